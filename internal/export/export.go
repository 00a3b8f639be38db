package export

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/evidence"
	"github.com/racledger/racledger/internal/txutil"
)

// Format is the file format of an export.
type Format string

// Export formats.
const (
	CSV     Format = "csv"     // COPY ... (FORMAT csv, HEADER), TimeZone UTC, DateStyle ISO
	JSONL   Format = "jsonl"   // one JSON object per line
	Parquet Format = "parquet" // typed columns, bounded row groups
)

// Formats lists the supported formats.
var Formats = []Format{CSV, JSONL, Parquet}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	f := Format(s)
	if !slices.Contains(Formats, f) {
		return "", fmt.Errorf("%w: format %q: want csv, jsonl or parquet", ErrInvalid, s)
	}
	return f, nil
}

// FileName returns the name of t's file in an export of format f.
func (f Format) FileName(t *canon.Table) string { return t.Stem + "." + string(f) }

// Errors of Export; each is returned wrapped with details.
var (
	// ErrInvalid reports bad options: the caller's input, not the database.
	ErrInvalid = errors.New("export: invalid options")
	// ErrNotEmpty reports an output directory that already holds files
	// (without Force), or files no export writes (with Force).
	ErrNotEmpty = errors.New("export: output directory is not empty")
	// ErrRangeNotEnded reports a range whose end is after the database's
	// clock: it has not ended, so its rows are not all written yet.
	ErrRangeNotEnded = errors.New("export: range has not ended")
	// ErrOpenRange reports a range that transactions still in progress may
	// write into, so an export of it now could differ from one later.
	ErrOpenRange = errors.New("export: range is not closed")
)

// DB begins transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Options configure one export.
type Options struct {
	// From and To bound the half-open range [From, To) of creation times
	// to export; both required unless Seals is set, From before To, To not
	// after the database's clock. They are truncated to microseconds.
	From, To time.Time
	// Seals, instead of From and To, exports the rows of a run of seals:
	// every row with tx_id in [horizon_from of seal Seals.From, horizon_to
	// of seal Seals.To). Such rows are final, so the export does not wait
	// for open transactions; without Tenant every seal of the run is then
	// complete in the manifest.
	Seals *SealRange
	// Format is the file format; required.
	Format Format
	// Dir is the output directory, created if missing; required. It must
	// be empty unless Force is set.
	Dir string
	// Force allows a Dir holding a previous (or an interrupted) export:
	// its manifest, signature, data and temporary files are removed first.
	// A Dir holding any other entry is refused with ErrNotEmpty all the
	// same, since the new export's verifier would report it.
	Force bool
	// Tenant, when set, exports only that tenant's rows; the ledger-wide
	// rac.reconciliations table is then omitted. Empty: every tenant.
	Tenant string
	// SignKey, when set, signs the manifest: manifest.json.sig holds the
	// ed25519 signature of manifest.json's exact bytes.
	SignKey ed25519.PrivateKey
	// ToolVersion is recorded in the manifest. Default "devel".
	ToolVersion string
	// Wait is how long to wait for transactions that may still write into
	// the range to finish before failing with ErrOpenRange. Default 0: do
	// not wait.
	Wait time.Duration
	// Progress receives progress lines; nil: none.
	Progress io.Writer
	// ProgressEvery is the interval between progress lines within a table.
	// Default 2s.
	ProgressEvery time.Duration
	// Logger receives debug logs; nil: discarded.
	Logger *slog.Logger
	// Now returns the export time written to the manifest. Default
	// time.Now.
	Now func() time.Time
}

// SealRange names a run of seals by id, both ends included.
type SealRange struct{ From, To int64 }

// String returns "FROM..TO".
func (r SealRange) String() string { return fmt.Sprintf("%d..%d", r.From, r.To) }

// ParseSealRange reads "A..B" (seal ids A to B, both included) or "A"
// (one seal).
func ParseSealRange(s string) (SealRange, error) {
	a, b, found := strings.Cut(s, "..")
	if !found {
		b = a
	}
	from, err1 := strconv.ParseInt(a, 10, 64)
	to, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return SealRange{}, fmt.Errorf("%w: seal range %q is not A..B or A (seal ids)", ErrInvalid, s)
	}
	r := SealRange{From: from, To: to}
	return r, r.validate()
}

func (r SealRange) validate() error {
	switch {
	case r.From < 1:
		return fmt.Errorf("%w: seal range %s: seal ids start at 1", ErrInvalid, r)
	case r.From > r.To:
		return fmt.Errorf("%w: seal range %s: the first seal is after the last", ErrInvalid, r)
	}
	return nil
}

// Validate reports options that Export would refuse before touching the
// database, wrapped in ErrInvalid. Export calls it; callers may call it
// first to report bad input before connecting.
func (o Options) Validate() error {
	if o.Seals != nil {
		if !o.From.IsZero() || !o.To.IsZero() {
			return fmt.Errorf("%w: a seal range and a time range are mutually exclusive", ErrInvalid)
		}
		if err := o.Seals.validate(); err != nil {
			return err
		}
	}
	switch {
	case o.Seals == nil && (o.From.IsZero() || o.To.IsZero()):
		return fmt.Errorf("%w: both the start and the end of the range are required", ErrInvalid)
	case o.Seals == nil && !o.From.Before(o.To):
		return fmt.Errorf("%w: range start %s is not before its end %s", ErrInvalid,
			o.From.Format(time.RFC3339Nano), o.To.Format(time.RFC3339Nano))
	case o.Dir == "":
		return fmt.Errorf("%w: no output directory", ErrInvalid)
	case o.Wait < 0:
		return fmt.Errorf("%w: negative wait %s", ErrInvalid, o.Wait)
	}
	if _, err := ParseFormat(string(o.Format)); err != nil {
		return err
	}
	if o.SignKey != nil && len(o.SignKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: signing key is %d bytes, want %d", ErrInvalid, len(o.SignKey), ed25519.PrivateKeySize)
	}
	return nil
}

// validate checks o and applies its defaults.
func (o *Options) validate() error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.From = o.From.Truncate(time.Microsecond).UTC()
	o.To = o.To.Truncate(time.Microsecond).UTC()
	if o.ToolVersion == "" {
		o.ToolVersion = "devel"
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Export writes the rows of every ledger table whose creation time lies in
// [opts.From, opts.To) to opts.Dir, read in one REPEATABLE READ, READ ONLY
// snapshot, then writes manifest.json (and manifest.json.sig with a
// signing key). It returns the manifest written. On error nothing but
// files it did not write is left in the directory, and a directory it
// created is removed.
func Export(ctx context.Context, db DB, opts Options) (*Manifest, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	created, err := prepareDir(opts.Dir, opts.Force)
	if err != nil {
		return nil, err
	}
	e := &exporter{opts: opts}
	m, err := e.run(ctx, db)
	if err != nil {
		e.cleanup()
		if created {
			// A directory this export created goes too: a failed export
			// leaves nothing behind (os.Remove fails on a non-empty one).
			_ = os.Remove(opts.Dir)
		}
		return nil, err
	}
	return m, nil
}

// exporter is one export in progress; written records the paths it
// created, for cleanup on error.
type exporter struct {
	opts    Options
	written []string
	// txFrom and txTo bound a seal range's rows, [txFrom, txTo), once
	// read in the snapshot.
	txFrom, txTo int64
	// head is the head of the seal chain in the snapshot; nil: no seal.
	head *db.RacSeal
	// seals are a seal range's seals, read in the snapshot.
	seals []db.RacSeal
	// src is where the snapshot reads the rows and seals: the ledger
	// tables, or the audit views for a login that may read views only.
	src canon.Source
}

func (e *exporter) cleanup() {
	for _, p := range e.written {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.opts.Logger.Warn("export: remove partial file", slog.String("path", p), slog.Any("err", err))
		}
	}
}

func (e *exporter) run(ctx context.Context, db DB) (*Manifest, error) {
	tx, m, err := e.openSnapshot(ctx, db)
	if err != nil {
		return nil, err
	}
	defer rollback(ctx, tx) // read-only: nothing to keep
	for i := range canon.Tables {
		t := &canon.Tables[i]
		if e.opts.Tenant != "" && !tenantScoped(t) {
			m.Omitted = append(m.Omitted, Omitted{Table: t.Name,
				Reason: "ledger-wide (no tenant column): not exported with a tenant filter"})
			continue
		}
		f, err := e.writeTable(ctx, tx, t)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	if err := e.addSeals(ctx, tx, m); err != nil {
		return nil, err
	}
	m.ExportedAt = e.opts.Now().UTC()
	if err := e.writeManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// openSnapshot waits, up to opts.Wait, until the range is closed (see the
// package doc), then begins the export's transaction and returns it with
// the manifest filled with what the snapshot knows.
//
// The check comes before the snapshot, in its own statement: once no
// transaction that started before To holds a transaction id, every row
// with a time before To was written by a transaction that has finished,
// and a snapshot taken afterwards sees all of them that committed. A
// transaction that gets its id only after the check writes only rows
// timed after the check, which is after To.
//
// A seal range needs no wait: its rows lie below a sealed horizon, so
// every transaction that could write them has finished.
func (e *exporter) openSnapshot(ctx context.Context, db DB) (pgx.Tx, *Manifest, error) {
	deadline := time.Now().Add(e.opts.Wait)
	for e.opts.Seals == nil {
		blockers, err := e.openTransactions(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		if len(blockers) == 0 {
			break
		}
		if !time.Now().Before(deadline) {
			return nil, nil, fmt.Errorf("%w: %d transaction(s) that started before %s are still in progress and may write into it: %s",
				ErrOpenRange, len(blockers), e.opts.To.Format(time.RFC3339Nano), strings.Join(blockers, "; "))
		}
		e.opts.Logger.Debug("export: waiting for transactions that may write into the range", slog.Any("blockers", blockers))
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
	return e.beginSnapshot(ctx, db)
}

// rollback ends tx, even after ctx is canceled.
func rollback(ctx context.Context, tx pgx.Tx) {
	_ = txutil.Rollback(ctx, tx)
}

// openTransactionsSQL lists the transactions that may still write rows
// timed before $1: every transaction holding a transaction id (its
// ExclusiveLock on its own id in pg_locks, which every role may read)
// whose session is in this database and started before $1, or whose
// session cannot be seen (another role's, without pg_read_all_stats; a
// prepared transaction). Sessions of other databases cannot write the
// ledger. It returns NULL for the list when $1 is after the database's
// clock: such a range has not ended.
const openTransactionsSQL = `
SELECT now(), CASE WHEN $1::timestamptz <= now() THEN coalesce((
    SELECT array_agg(DISTINCT CASE
        WHEN l.pid IS NULL THEN 'prepared transaction ' || l.transactionid
        WHEN a.pid IS NULL OR a.xact_start IS NULL THEN 'pid ' || l.pid || ' (start not visible)'
        ELSE 'pid ' || l.pid || ' (started ' || to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || ')'
    END)
    FROM pg_locks l
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
      AND l.pid IS DISTINCT FROM pg_backend_pid()
      AND (a.pid IS NULL OR (a.datname IS NOT DISTINCT FROM current_database()
                             AND (a.xact_start IS NULL OR a.xact_start < $1)))), '{}') END`

// openTransactions returns the transactions that keep the range open.
func (e *exporter) openTransactions(ctx context.Context, db DB) ([]string, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin range check: %w", err)
	}
	defer rollback(ctx, tx)
	var (
		now      time.Time
		blockers []string
	)
	if err := tx.QueryRow(ctx, openTransactionsSQL, e.opts.To).Scan(&now, &blockers); err != nil {
		return nil, fmt.Errorf("check the range is closed: %w", err)
	}
	if blockers == nil {
		return nil, fmt.Errorf("%w: range end %s is after the database clock (%s): only a range that has ended can be exported reproducibly",
			ErrRangeNotEnded, e.opts.To.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	return blockers, nil
}

// beginSnapshot begins the export transaction (REPEATABLE READ, READ
// ONLY, DEFERRABLE), pins the settings CSV output depends on, and reads
// the manifest's facts in its snapshot.
func (e *exporter) beginSnapshot(ctx context.Context, db DB) (pgx.Tx, *Manifest, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{
		IsoLevel:       pgx.RepeatableRead,
		AccessMode:     pgx.ReadOnly,
		DeferrableMode: pgx.Deferrable,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("begin export transaction: %w", err)
	}
	fail := func(err error) (pgx.Tx, *Manifest, error) {
		rollback(ctx, tx)
		return nil, nil, err
	}
	// CSV is PostgreSQL's text output: pin what it depends on.
	if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
		return fail(fmt.Errorf("set time zone: %w", err))
	}
	if _, err := tx.Exec(ctx, `SET LOCAL DateStyle = 'ISO, YMD'`); err != nil {
		return fail(fmt.Errorf("set date style: %w", err))
	}
	if e.src, err = evidence.Detect(ctx, tx); err != nil {
		return fail(err)
	}
	m := &Manifest{
		FormatVersion:     ManifestFormatVersion,
		Tool:              "rac",
		ToolVersion:       e.opts.ToolVersion,
		CanonicalEncoding: canon.Version,
		Range:             Range{Kind: RangeTime, From: e.opts.From, To: e.opts.To, Columns: map[string]string{}},
		Omitted:           []Omitted{},
		Format:            e.opts.Format,
		Files:             []File{},
		Seals:             []Seal{},
	}
	if e.opts.Seals != nil {
		m.Range = Range{Kind: RangeSeals, FromSeal: &e.opts.Seals.From, ToSeal: &e.opts.Seals.To,
			TxIDFrom: &e.txFrom, TxIDTo: &e.txTo, Columns: map[string]string{}}
	}
	if e.opts.Tenant != "" {
		tenant := e.opts.Tenant
		m.Tenant = &tenant
	}
	for i := range canon.Tables {
		m.Range.Columns[canon.Tables[i].Stem] = e.rangeColumn(&canon.Tables[i])
	}
	// The system identifier needs EXECUTE on pg_control_system(), which
	// not every role has: check first, since an error would abort the
	// transaction.
	var sysID *string
	if err := tx.QueryRow(ctx, `
		SELECT now(), pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
		       pg_snapshot_xmax(pg_current_snapshot())::text::bigint, current_database(),
		       CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
		            THEN (SELECT system_identifier::text FROM pg_control_system()) END`,
	).Scan(&m.Snapshot.TakenAt, &m.Snapshot.Xmin, &m.Snapshot.Xmax, &m.Database, &sysID); err != nil {
		return fail(fmt.Errorf("read snapshot: %w", err))
	}
	m.Snapshot.TakenAt = m.Snapshot.TakenAt.UTC()
	if sysID != nil {
		m.DatabaseSystemIdentifier = *sysID
	}
	// Row-level security shows the exporting session only its tenant
	// scope (docs/sql-api.md, "Tenants"): say which tenants that was, so
	// an export read by a pinned role does not pass for the whole ledger.
	if m.VisibleTenants, err = e.visibleTenants(ctx, tx); err != nil {
		return fail(err)
	}
	if err := e.checkTenant(ctx, tx, m.VisibleTenants); err != nil {
		return fail(err)
	}
	if err := e.readSeals(ctx, tx); err != nil {
		return fail(err)
	}
	if m.SchemaVersion, err = evidence.SchemaVersion(ctx, tx); err != nil {
		return fail(err)
	}
	return tx, m, nil
}

// visibleTenants returns the names of the tenants the session sees, in
// name order. The audit views show only those.
func (e *exporter) visibleTenants(ctx context.Context, tx pgx.Tx) ([]string, error) {
	query := `SELECT coalesce(array_agg(t.name ORDER BY t.name), '{}') FROM rac.tenants t WHERE t.id = ANY (rac.tenant_scope())`
	if e.src == canon.FromViews {
		query = `SELECT coalesce(array_agg(t.name ORDER BY t.name), '{}') FROM rac.audit_tenants t`
	}
	var names []string
	if err := tx.QueryRow(ctx, query).Scan(&names); err != nil {
		return nil, fmt.Errorf("read the session's tenant scope: %w", err)
	}
	return names, nil
}

// checkTenant refuses an Options.Tenant that is unknown or outside the
// session's scope (visible). A login reading the audit views sees no
// other tenant, so it is told the tenant is one or the other.
func (e *exporter) checkTenant(ctx context.Context, tx pgx.Tx, visible []string) error {
	if e.opts.Tenant == "" || (e.src == canon.FromViews && slices.Contains(visible, e.opts.Tenant)) {
		return nil
	}
	if e.src == canon.FromViews {
		return fmt.Errorf("%w: tenant %q is unknown or outside this session's tenant scope %q (export as a login that sees it)",
			ErrInvalid, e.opts.Tenant, visible)
	}
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rac.tenants WHERE name = $1)`, e.opts.Tenant).Scan(&known); err != nil {
		return fmt.Errorf("look up tenant: %w", err)
	}
	if !known {
		return fmt.Errorf("%w: unknown tenant %q", ErrInvalid, e.opts.Tenant)
	}
	if !slices.Contains(visible, e.opts.Tenant) {
		return fmt.Errorf("%w: tenant %q is outside this session's tenant scope %q (set rac.tenant, or export as a role that sees it)",
			ErrInvalid, e.opts.Tenant, visible)
	}
	return nil
}

// writeTable streams t's rows in the range to its file and returns the
// file's manifest entry.
func (e *exporter) writeTable(ctx context.Context, tx pgx.Tx, t *canon.Table) (File, error) {
	name := e.opts.Format.FileName(t)
	final := filepath.Join(e.opts.Dir, name)
	tmp := filepath.Join(e.opts.Dir, tempPrefix+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return File{}, fmt.Errorf("create %s: %w", tmp, err)
	}
	e.written = append(e.written, tmp)
	defer f.Close()
	prog := newProgress(e.opts.Progress, e.opts.ProgressEvery, t.Stem)
	fw := newFileWriter(f)

	var rows int64
	switch e.opts.Format {
	case CSV:
		rows, err = e.copyCSV(ctx, tx, t, fw, prog)
	case JSONL:
		query, args := e.query(t)
		rows, err = streamRows(ctx, tx, t, query, args, newJSONLSink(fw, t), prog)
	case Parquet:
		var sink *parquetSink
		if sink, err = newParquetSink(fw, t); err == nil {
			query, args := e.query(t)
			rows, err = streamRows(ctx, tx, t, query, args, sink, prog)
		}
	}
	if err != nil {
		return File{}, err
	}
	size, sum, err := fw.finish()
	if err != nil {
		return File{}, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return File{}, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return File{}, fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return File{}, fmt.Errorf("rename %s: %w", tmp, err)
	}
	e.written = append(e.written, final)
	prog.done(rows, size)
	return File{Name: name, Table: t.Name, Rows: rows, Bytes: size, SHA256: sum}, nil
}

// rangeColumn is the column of t the export's range applies to.
func (e *exporter) rangeColumn(t *canon.Table) string {
	if e.opts.Seals != nil {
		return "tx_id"
	}
	return timeColumn(t)
}

// rangeCond returns the range predicate on t with lo and hi as SQL
// expressions for the bounds.
func (e *exporter) rangeCond(t *canon.Table, lo, hi string) string {
	col := "x." + e.rangeColumn(t)
	return col + " >= " + lo + " AND " + col + " < " + hi
}

// filter returns the condition selecting the exported rows of t in its
// canon.Table.SelectIn: the range and, with a tenant, the tenant's name
// (canon.Table.Ref of the tenant column). bind renders
// each value as SQL: a placeholder for a query (params.bind), a literal
// for COPY, which takes no parameters (literal).
func (e *exporter) filter(t *canon.Table, bind func(v any) string) string {
	var cond string
	if e.opts.Seals != nil {
		cond = e.rangeCond(t, bind(e.txFrom)+"::int8", bind(e.txTo)+"::int8")
	} else {
		cond = e.rangeCond(t, bind(e.opts.From)+"::timestamptz", bind(e.opts.To)+"::timestamptz")
	}
	if e.opts.Tenant != "" && tenantScoped(t) {
		cond += " AND " + t.Ref(e.src, "tenant") + " = " + bind(e.opts.Tenant)
	}
	return cond
}

// params collects a query's arguments; bind appends one and returns its
// placeholder.
type params []any

func (p *params) bind(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// literal returns v, a filter value, as an SQL literal.
func literal(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case time.Time:
		return quoteLiteral(v.Format(time.RFC3339Nano))
	case string:
		return quoteLiteral(v)
	}
	panic(fmt.Sprintf("export: no SQL literal for %T", v))
}

// query returns t's SELECT with parameters.
func (e *exporter) query(t *canon.Table) (string, []any) {
	var args params
	query := t.SelectIn(e.src, e.filter(t, args.bind))
	return query, args
}

// copyCSV streams t's rows with COPY ... TO STDOUT (FORMAT csv, HEADER).
// COPY takes no parameters, so the range and tenant are literals.
func (e *exporter) copyCSV(ctx context.Context, tx pgx.Tx, t *canon.Table, w io.Writer, prog *progress) (int64, error) {
	sel := t.SelectIn(e.src, e.filter(t, literal))
	tag, err := tx.Conn().PgConn().CopyTo(ctx, progressWriter{w, prog}, "COPY ("+sel+") TO STDOUT WITH (FORMAT csv, HEADER)")
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}

// progressWriter reports the bytes COPY writes to prog.
type progressWriter struct {
	w    io.Writer
	prog *progress
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.prog.wrote(n)
	return n, err
}
