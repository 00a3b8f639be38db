package ledger_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/ledger"
)

// EnvBenchAs chooses whose writes BenchmarkAckFeatureCost and
// BenchmarkExpectFeatureCost measure: "writer" (a login in rac_writer,
// the default) or "owner" (the superuser that owns the ledger, which
// row-level security does not bind).
const EnvBenchAs = "RAC_BENCH_AS"

// The two BRIN indexes of rac.acks, which the reconciler reads.
const (
	dropAckBRINs = `DROP INDEX rac.acks_id_brin; DROP INDEX rac.acks_tx_id_brin`
	addAckBRINs  = `CREATE INDEX acks_id_brin ON rac.acks USING brin (id) WITH (autosummarize = on);
		CREATE INDEX acks_tx_id_brin ON rac.acks USING brin (tx_id) WITH (autosummarize = on)`
)

// tableChecks returns statements that drop and re-add the CHECK
// constraints of rac.<table> as the migrations left them.
func tableChecks(b *testing.B, pool *pgxpool.Pool, table string) (drop, add string) {
	b.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT format('DROP CONSTRAINT %I', conname), format('ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
		FROM pg_catalog.pg_constraint WHERE conrelid = ('rac.' || $1)::regclass AND contype = 'c' ORDER BY conname`, table)
	if err != nil {
		b.Fatal(err)
	}
	var drops, adds []string
	var d, a string
	if _, err := pgx.ForEachRow(rows, []any{&d, &a}, func() error {
		drops, adds = append(drops, d), append(adds, a)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if len(drops) == 0 {
		b.Fatalf("rac.%s has no CHECK constraints", table)
	}
	return `ALTER TABLE rac.` + table + ` ` + strings.Join(drops, ", "), `ALTER TABLE rac.` + table + ` ` + strings.Join(adds, ", ")
}

// featureBench is a feature-cost benchmark of one ledger table: its
// scratch database, whose connections write, and how.
type featureBench struct {
	m       minimumBench
	table   string // rac.<table>
	conns   []*pgxpool.Conn
	writer  bool // conns are the rac_writer login's
	landed  func(ctx context.Context, tx pgx.Tx, seq int64) error
	plain   benchVariant
	extra   []benchVariant // more variants, after the common ones
	perTx   int            // rows one transaction writes into rac.<table>
	plainTo string         // the plain table
}

// without is a variant of the landed write with the schema changed by
// drop before each segment and restored by add after.
func (f *featureBench) without(name string, drop, add []string) benchVariant {
	run := func(sql []string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if len(sql) == 0 {
				return nil
			}
			_, err := f.m.admin.Exec(ctx, strings.Join(sql, ";\n"))
			return err
		}
	}
	return benchVariant{name: name, conns: f.conns, work: f.landed, setup: run(drop), teardown: run(add)}
}

// run measures the plain write (P), the landed one, and the landed one
// without the CHECKs, the identity guard, row-level security and all
// three, then f.extra; for the writer also with a table-wide INSERT grant
// instead of rac_writer's column grants (without the guard, which a
// table grant would make fire). It reports <variant>/P, <variant>/landed
// and table_grant/no_guard.
func (f *featureBench) run(b *testing.B) {
	b.Helper()
	dropChecks, addChecks := tableChecks(b, f.m.admin, f.table)
	dropGuard := `ALTER TABLE rac.` + f.table + ` DISABLE TRIGGER ` + f.table + `_identity_guard`
	addGuard := `ALTER TABLE rac.` + f.table + ` ENABLE TRIGGER ` + f.table + `_identity_guard`
	dropRLS := `ALTER TABLE rac.` + f.table + ` DISABLE ROW LEVEL SECURITY`
	addRLS := `ALTER TABLE rac.` + f.table + ` ENABLE ROW LEVEL SECURITY`
	variants := []benchVariant{
		f.plain,
		f.without("landed", nil, nil),
		f.without("no_checks", []string{dropChecks}, []string{addChecks}),
		f.without("no_guard", []string{dropGuard}, []string{addGuard}),
		f.without("no_rls", []string{dropRLS}, []string{addRLS}),
		f.without("bare", []string{dropChecks, dropGuard, dropRLS}, []string{addChecks, addGuard, addRLS}),
	}
	variants = append(variants, f.extra...)
	if f.writer {
		login := pgx.Identifier{f.m.writerName}.Sanitize()
		variants = append(variants, f.without("table_grant",
			[]string{dropGuard, `GRANT INSERT ON rac.` + f.table + ` TO ` + login},
			[]string{`REVOKE INSERT ON rac.` + f.table + ` FROM ` + login, addGuard}))
	}
	res := runInterleaved(b, nil, variants)

	// Every transaction left its rows: the warm-up, the timed ones and,
	// for a variant with a setup, one replanning transaction per
	// connection before the warm-up and before every segment.
	segments := (b.N + benchSegment - 1) / benchSegment
	txs := (len(variants) - 1) * (benchWarmup + b.N + (segments+1)*len(f.conns))
	expectRowCount(b, f.m.admin, f.plainTo, f.perTx*(benchWarmup+b.N))
	expectRowCount(b, f.m.admin, "rac."+f.table, f.perTx*txs)

	byName := map[string]variantResult{}
	for i, v := range variants {
		byName[v.name] = res[i]
	}
	p, landed := byName[f.plain.name], byName["landed"]
	for i, v := range variants[1:] {
		r := res[i+1]
		b.ReportMetric(r.txPerSec()/p.txPerSec(), v.name+"/P")
		switch {
		case v.name == "table_grant":
			b.ReportMetric(r.txPerSec()/byName["no_guard"].txPerSec(), v.name+"/no_guard")
		case i > 0:
			b.ReportMetric(r.txPerSec()/landed.txPerSec(), v.name+"/landed")
		}
	}
}

// newFeatureBench creates the scratch database with the plain table and
// picks the connections RAC_BENCH_AS names.
func newFeatureBench(b *testing.B, createPlain, plainTable, table string) *featureBench {
	b.Helper()
	m := newMinimumBench(b, createPlain, plainTable)
	f := &featureBench{m: m, table: table, conns: m.writer, writer: true, plainTo: plainTable, perTx: 1}
	switch as := os.Getenv(EnvBenchAs); as {
	case "", "writer":
	case "owner":
		f.conns, f.writer = m.owner, false
	default:
		b.Fatalf("%s=%q: want writer or owner", EnvBenchAs, as)
	}
	return f
}

// author is the author id of f's connections.
func (f *featureBench) author() int32 {
	if f.writer {
		return f.m.writerAuthor
	}
	return f.m.ownerAuthor
}

// BenchmarkAckFeatureCost prices each integrity feature of rac.acks for
// ledger.Ack in a business transaction, as BenchmarkAckPhysicalMinimum
// measures it, by taking the feature away in the benchmark's own scratch
// database between interleaved segments of one run: the CHECK
// constraints, the identity guard trigger, row-level security, all three,
// and the two BRIN indexes the reconciler reads (no_brin); for the writer
// also table-wide INSERT instead of column grants. Each variant is
// reported against the plain table (<variant>/P) and against rac.acks as
// the migrations leave it (<variant>/landed). The schema is restored
// after every segment; the variants are what the ledger would cost
// without that integrity, not options.
func BenchmarkAckFeatureCost(b *testing.B) {
	f := newFeatureBench(b, plainAcks, "public.plain_acks", "acks")
	createIncident := actionID(b, f.m.admin, ledger.Incidents, ledger.CreateIncident)
	f.landed = ledgerAckWork(benchLedger(""))
	f.plain = benchVariant{name: "P", conns: f.conns, work: plainAckWork(createIncident, f.author())}
	f.extra = []benchVariant{f.without("no_brin", []string{dropAckBRINs}, []string{addAckBRINs})}
	f.run(b)
}

// BenchmarkExpectFeatureCost is BenchmarkAckFeatureCost for
// ledger.Expect(StandardRun) into rac.expectations, against the five-row
// unnest insert into public.plain_expectations of
// BenchmarkExpectPhysicalMinimum.
func BenchmarkExpectFeatureCost(b *testing.B) {
	f := newFeatureBench(b, plainExpectations, "public.plain_expectations", "expectations")
	plain, viaLedger := standardRunWork(b, f.m.admin)
	f.perTx = standardRunRows
	f.landed = viaLedger
	f.plain = benchVariant{name: "P", conns: f.conns, work: plain(f.author())}
	f.run(b)
}
