package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/db"
)

// DBTX is what every write takes: the three methods that pgx.Tx, *pgx.Conn
// and *pgxpool.Pool all have. Pass the caller's transaction so the ledger
// row commits or rolls back with the caller's own rows.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DefaultTenant is the tenant a Ledger writes to when Options.Tenant is
// empty; the migrations create it.
const DefaultTenant = "default"

// EnabledEnv is the environment variable read when Options.Enabled is nil.
const EnabledEnv = "RAC_ENABLED"

var queries = db.New()

// Options configure a Ledger. The zero value is ready to use.
type Options struct {
	// Registerer receives the write metrics. Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives debug logs of refused writes. Nil: discard.
	Logger *slog.Logger
	// Enabled turns writes on or off. Nil reads RAC_ENABLED (default
	// true); false makes Expect and Ack validate their input in Go and then
	// return nil without touching the database.
	Enabled *bool
	// Tenant is the tenant every write belongs to. Default "default".
	// Other tenants must exist in rac.tenants (see RegisterTenant). A
	// session bound by row-level security (a role that neither owns the
	// tables nor is a superuser) may only write tenants in its scope (see
	// docs/sql-api.md, "Tenants"); another fails with permission denied.
	Tenant string
	// DeclaredBy is recorded on each expectation as who declared it, e.g.
	// the service name: valid UTF-8 without NUL bytes, at most
	// MaxDeclaredByBytes (else every write returns an error wrapping
	// ErrInvalid). Default: none.
	DeclaredBy string
}

// Ledger writes expectations and acks into the caller's transactions. It is
// safe for concurrent use; create one per process and tenant.
type Ledger struct {
	logger     *slog.Logger
	enabled    bool
	tenant     string
	declaredBy string
	catalog    *catalog
	authors    *authorCache
	metrics    *metrics
	// setupErr is a configuration error found by New; every write returns it.
	setupErr error
}

// New returns a Ledger. It never panics: a malformed tenant name or
// DeclaredBy is logged and returned by every write (wrapping ErrInvalid);
// metrics that cannot be registered on opts.Registerer are logged and left
// out, and writes go on.
func New(opts Options) *Ledger {
	l := &Ledger{
		logger:     opts.Logger,
		tenant:     opts.Tenant,
		declaredBy: opts.DeclaredBy,
		catalog:    newCatalog(),
		authors:    newAuthorCache(),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.tenant == "" {
		l.tenant = DefaultTenant
	}
	l.enabled = enabledFrom(opts.Enabled, l.logger)
	if err := checkTenant("options", "tenant", l.tenant); err != nil {
		l.setupErr = err
	} else if err := checkText("options", -1, "declared_by", l.declaredBy, MaxDeclaredByBytes); err != nil {
		l.setupErr = err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		// Losing audit writes over a metric name clash would be the wrong
		// trade: write on, uncounted, and say so.
		l.logger.Error("ledger: metrics not registered; writes continue without them", slog.Any("error", err))
	}
	l.metrics = m
	if l.setupErr != nil {
		l.logger.Error("ledger: misconfigured, every write will fail", slog.Any("error", l.setupErr))
	}
	return l
}

// enabledFrom applies the Enabled option, reading RAC_ENABLED when nil.
func enabledFrom(opt *bool, logger *slog.Logger) bool {
	if opt != nil {
		return *opt
	}
	v := strings.TrimSpace(os.Getenv(EnabledEnv))
	if v == "" {
		return true
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		logger.Warn("ledger: unreadable "+EnabledEnv+", keeping writes enabled", slog.String("value", v))
		return true
	}
	return on
}

// Enabled reports whether writes reach the database.
func (l *Ledger) Enabled() bool { return l.enabled }

// Tenant returns the tenant this Ledger writes to.
func (l *Ledger) Tenant() string { return l.tenant }

// Expect declares what must happen in run: every expectation is written in
// one statement on dbtx, visible only if the caller's transaction commits.
//
// Input is checked in Go and against the catalog first; a bad item fails the
// whole call with an error wrapping ErrInvalid, and nothing is written.
// Declaring an expectation again with the same deadline is a no-op; with a
// different deadline the call returns a *ConflictError (ErrConflict) and
// writes nothing of the batch.
func (l *Ledger) Expect(ctx context.Context, dbtx DBTX, runID uuid.UUID, exps ...Expectation) error {
	if err := l.ready(dbtx); err != nil {
		return err
	}
	exps, err := validateExpectations(runID, exps)
	if err != nil {
		return l.refused(ctx, err)
	}
	if !l.enabled {
		return nil
	}
	keys := make([]actionKey, len(exps))
	deadlines := make([]int64, len(exps))
	for i, e := range exps {
		keys[i] = actionKey{e.Domain, e.Action}
		deadlines[i] = e.Deadline.Milliseconds()
	}
	tenantID, actionIDs, err := l.resolve(ctx, dbtx, "expectation", keys)
	if err != nil {
		return err
	}
	var declaredBy *string
	if l.declaredBy != "" {
		declaredBy = &l.declaredBy
	}
	author, known, err := l.authors.author(ctx, dbtx)
	if err != nil {
		return err
	}
	p := db.ExpectationsInsertParams{
		ActionIds:  actionIDs,
		DeadlineMs: deadlines,
		TenantID:   tenantID,
		RunID:      runID,
		DeclaredBy: declaredBy,
	}
	asAuthor := db.ExpectationsInsertAsParams{TenantID: p.TenantID, RunID: p.RunID, DeclaredBy: p.DeclaredBy,
		AuthorID: author.id, ActionIds: p.ActionIds, DeadlineMs: p.DeadlineMs}
	var inserted int64
	switch {
	case known && author.superuser:
		inserted, err = queries.ExpectationsInsertUnpinned(ctx, dbtx, db.ExpectationsInsertUnpinnedParams(asAuthor))
	case known:
		inserted, err = queries.ExpectationsInsertAs(ctx, dbtx, asAuthor)
	default:
		inserted, err = queries.ExpectationsInsert(ctx, dbtx, p)
	}
	if err != nil {
		return fmt.Errorf("rac: insert expectations for run %s: %w", runID, err)
	}
	l.metrics.expectations.Add(float64(inserted))
	if int(inserted) == len(exps) {
		return nil
	}
	// The run was declared before (or a concurrent transaction declared
	// some of these first): compare with what is stored. In that race the
	// rows this call did insert stay, so only then can a conflict leave
	// part of the batch written.
	row, err := queries.ExpectationsRedeclare(ctx, dbtx, db.ExpectationsRedeclareParams{
		ActionIds:  actionIDs,
		DeadlineMs: deadlines,
		TenantID:   tenantID,
		RunID:      runID,
		DeclaredBy: declaredBy,
	})
	if err != nil {
		return fmt.Errorf("rac: redeclare expectations for run %s: %w", runID, err)
	}
	if len(row.RefusedActionIds) > 0 {
		return l.refused(ctx, l.forbidden("expectation", row.RefusedActionIds))
	}
	if len(row.ConflictingActionIds) > 0 {
		cerr := &ConflictError{RunID: runID}
		for _, id := range row.ConflictingActionIds {
			cerr.Actions = append(cerr.Actions, l.catalog.actionName(id).String())
		}
		return l.refused(ctx, cerr)
	}
	l.metrics.expectations.Add(float64(row.Inserted))
	return nil
}

// Ack records what domains did: every ack is written in one statement on
// dbtx, visible only if the caller's transaction commits. Write it in the
// same transaction as the domain's own record, so the two can never
// disagree.
//
// Input is checked in Go and against the catalog first; a bad item fails the
// whole call with an error wrapping ErrInvalid, and nothing is written. An
// ack whose idempotency key was used before for the same run, domain and
// action is skipped without error.
func (l *Ledger) Ack(ctx context.Context, dbtx DBTX, acks ...Ack) error {
	if err := l.ready(dbtx); err != nil {
		return err
	}
	if err := validateAcks(acks); err != nil {
		return l.refused(ctx, err)
	}
	if !l.enabled {
		return nil
	}
	keys := make([]actionKey, len(acks))
	for i, a := range acks {
		keys[i] = actionKey{a.Domain, a.Action}
	}
	tenantID, actionIDs, err := l.resolve(ctx, dbtx, "ack", keys)
	if err != nil {
		return err
	}
	if len(acks) == 1 {
		return l.ackOne(ctx, dbtx, tenantID, actionIDs[0], acks[0])
	}
	params := db.AcksInsertManyParams{
		TenantID:        tenantID,
		RunIds:          make([]uuid.UUID, len(acks)),
		ActionIds:       actionIDs,
		ResultIds:       make([]string, len(acks)),
		IdempotencyKeys: make([]string, len(acks)),
		Errors:          make([]string, len(acks)),
		Metadata:        make([]string, len(acks)),
	}
	for i, a := range acks {
		params.RunIds[i] = a.RunID
		params.ResultIds[i] = a.ResultID
		params.IdempotencyKeys[i] = a.IdempotencyKey
		params.Errors[i] = a.Error
		params.Metadata[i] = string(a.Metadata)
	}
	written, err := queries.AcksInsertMany(ctx, dbtx, params)
	if err != nil {
		return fmt.Errorf("rac: insert %d acks: %w", len(acks), err)
	}
	if len(written) == 0 {
		// Every key used before, or a domain the role may not ack.
		if err := l.checkAckRefusals(ctx, dbtx, actionIDs); err != nil {
			return err
		}
	}
	for _, w := range written {
		k := l.catalog.actionName(w.ActionID)
		l.metrics.acks.WithLabelValues(string(k.Domain), string(k.Action), outcome(w.Failed)).Inc()
	}
	return nil
}

// ackOne is the hot path: one ack, one single-row INSERT.
func (l *Ledger) ackOne(ctx context.Context, dbtx DBTX, tenantID, actionID int16, a Ack) error {
	author, known, err := l.authors.author(ctx, dbtx)
	if err != nil {
		return err
	}
	p := db.AckInsertParams{
		TenantID:       tenantID,
		RunID:          a.RunID,
		ActionID:       actionID,
		ResultID:       a.ResultID,
		IdempotencyKey: a.IdempotencyKey,
		Error:          a.Error,
		Metadata:       string(a.Metadata),
	}
	var n int64
	switch {
	case known && author.superuser:
		n, err = queries.AckInsertUnpinned(ctx, dbtx, db.AckInsertUnpinnedParams(withAuthor(p, author.id)))
	case known:
		n, err = queries.AckInsertAs(ctx, dbtx, withAuthor(p, author.id))
	default:
		n, err = queries.AckInsert(ctx, dbtx, p)
	}
	if err != nil {
		return fmt.Errorf("rac: insert ack for run %s %s/%s: %w", a.RunID, a.Domain, a.Action, err)
	}
	if n > 0 {
		l.metrics.acks.WithLabelValues(string(a.Domain), string(a.Action), outcome(a.Error != "")).Inc()
		return nil
	}
	// The key was used before, or the role may not ack this domain.
	return l.checkAckRefusals(ctx, dbtx, []int16{actionID})
}

// withAuthor is p with the session's author named, for the statements
// that take it instead of looking it up.
func withAuthor(p db.AckInsertParams, author int32) db.AckInsertAsParams {
	return db.AckInsertAsParams{TenantID: p.TenantID, RunID: p.RunID, ActionID: p.ActionID, ResultID: p.ResultID,
		IdempotencyKey: p.IdempotencyKey, Error: p.Error, Metadata: p.Metadata, AuthorID: author}
}

// checkAckRefusals returns a *ForbiddenError when the session's role may
// not ack some of actionIDs, after a write held them back.
func (l *Ledger) checkAckRefusals(ctx context.Context, dbtx DBTX, actionIDs []int16) error {
	refused, err := queries.AckRefusals(ctx, dbtx, actionIDs)
	if err != nil {
		return fmt.Errorf("rac: check the domains this role may ack: %w", err)
	}
	if len(refused) > 0 {
		return l.refused(ctx, l.forbidden("ack", refused))
	}
	return nil
}

// forbidden returns the *ForbiddenError for the refused action ids.
func (l *Ledger) forbidden(item string, actionIDs []int16) *ForbiddenError {
	ferr := &ForbiddenError{Item: item}
	for _, id := range actionIDs {
		ferr.Actions = append(ferr.Actions, l.catalog.actionName(id).String())
	}
	return ferr
}

// RegisterAction adds a (domain, action) pair to the global catalog on
// dbtx; a pair already there is left unchanged. Register it in a
// transaction that commits before the pair is used in another one.
func (l *Ledger) RegisterAction(ctx context.Context, dbtx DBTX, domain Domain, action Action, description string) error {
	if dbtx == nil {
		return nilDB("action")
	}
	if err := checkPair("action", -1, domain, action); err != nil {
		return err
	}
	if err := checkText("action", -1, "description", description, MaxDescriptionBytes); err != nil {
		return err
	}
	if err := queries.ContractActionInsert(ctx, dbtx, db.ContractActionInsertParams{
		Domain: string(domain), Action: string(action), Description: description,
	}); err != nil {
		return fmt.Errorf("rac: register action %s/%s: %w", domain, action, err)
	}
	return nil
}

// RegisterTenant creates the tenant name on dbtx; a tenant that exists is
// left unchanged. Register it in a transaction that commits before a
// Ledger for that tenant writes.
func RegisterTenant(ctx context.Context, dbtx DBTX, name string) error {
	if dbtx == nil {
		return nilDB("tenant")
	}
	if err := checkTenant("tenant", "name", name); err != nil {
		return err
	}
	if err := queries.TenantInsert(ctx, dbtx, name); err != nil {
		return fmt.Errorf("rac: register tenant %s: %w", name, err)
	}
	return nil
}

// resolve turns the Ledger's tenant and the given (domain, action) pairs
// into their catalog ids, refusing unknown ones before any write.
func (l *Ledger) resolve(ctx context.Context, dbtx DBTX, item string, keys []actionKey) (int16, []int16, error) {
	tenantID, err := l.catalog.tenantID(ctx, dbtx, l.tenant)
	if err != nil {
		return 0, nil, l.refused(ctx, err)
	}
	actionIDs, err := l.catalog.actionIDs(ctx, dbtx, item, keys)
	if err != nil {
		return 0, nil, l.refused(ctx, err)
	}
	return tenantID, actionIDs, nil
}

// ready returns the error that stops any write before validation: a
// misconfigured Ledger or a nil handle.
func (l *Ledger) ready(dbtx DBTX) error {
	if l == nil {
		return &InputError{Item: "options", Index: -1, Err: ErrInvalid, Reason: "nil *Ledger (use ledger.New)"}
	}
	if l.setupErr != nil {
		return l.setupErr
	}
	if dbtx == nil {
		return nilDB("options")
	}
	return nil
}

// refused logs a refused write at debug level and returns err.
func (l *Ledger) refused(ctx context.Context, err error) error {
	l.logger.DebugContext(ctx, "ledger: write refused", slog.String("tenant", l.tenant), slog.Any("error", err))
	return err
}
