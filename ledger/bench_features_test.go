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

// EnvBenchAs chooses whose acks BenchmarkAckFeatureCost measures:
// "writer" (a login in rac_writer, the default) or "owner" (the superuser
// that owns the ledger, which row-level security does not bind).
const EnvBenchAs = "RAC_BENCH_AS"

// Switches of the identity guard and of row-level security on rac.acks.
const (
	dropAckGuard = `ALTER TABLE rac.acks DISABLE TRIGGER acks_identity_guard`
	addAckGuard  = `ALTER TABLE rac.acks ENABLE TRIGGER acks_identity_guard`
	dropAckRLS   = `ALTER TABLE rac.acks DISABLE ROW LEVEL SECURITY`
	addAckRLS    = `ALTER TABLE rac.acks ENABLE ROW LEVEL SECURITY`
	dropAckBRINs = `DROP INDEX rac.acks_id_brin; DROP INDEX rac.acks_tx_id_brin`
	addAckBRINs  = `CREATE INDEX acks_id_brin ON rac.acks USING brin (id) WITH (autosummarize = on);
		CREATE INDEX acks_tx_id_brin ON rac.acks USING brin (tx_id) WITH (autosummarize = on)`
)

// ackChecks returns statements that drop and re-add rac.acks' CHECK
// constraints as the migrations left them.
func ackChecks(b *testing.B, pool *pgxpool.Pool) (drop, add string) {
	b.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT format('DROP CONSTRAINT %I', conname), format('ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
		FROM pg_catalog.pg_constraint WHERE conrelid = 'rac.acks'::regclass AND contype = 'c' ORDER BY conname`)
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
		b.Fatal("rac.acks has no CHECK constraints")
	}
	return `ALTER TABLE rac.acks ` + strings.Join(drops, ", "), `ALTER TABLE rac.acks ` + strings.Join(adds, ", ")
}

// BenchmarkAckFeatureCost prices each integrity feature of rac.acks for
// ledger.Ack in a business transaction, as BenchmarkAckPhysicalMinimum
// measures it, by taking the feature away in the benchmark's own scratch
// database between interleaved segments of one run: the five CHECK
// constraints, the identity guard trigger, row-level security, all three,
// and the two BRIN indexes the reconciler reads. Each variant is reported
// against the plain table (<variant>/P) and against rac.acks as the
// migrations leave it (<variant>/landed). One more variant gives the
// writer table-wide INSERT instead of rac_writer's column grants; a
// table grant would make the identity guard fire, so it runs without the
// guard and is reported against the variant without the guard
// (table_grant/no_guard). The schema is restored after every segment; the
// variants are what the ledger would cost without that integrity, not
// options.
func BenchmarkAckFeatureCost(b *testing.B) {
	m := newMinimumBench(b, plainAcks, "public.plain_acks")
	conns, author := m.writer, m.writerAuthor
	switch as := os.Getenv(EnvBenchAs); as {
	case "", "writer":
	case "owner":
		conns, author = m.owner, m.ownerAuthor
	default:
		b.Fatalf("%s=%q: want writer or owner", EnvBenchAs, as)
	}
	dropAckChecks, addAckChecks := ackChecks(b, m.admin)
	createIncident := actionID(b, m.admin, ledger.Incidents, ledger.CreateIncident)
	viaLedger := ledgerAckWork(benchLedger(""))
	run := func(sql ...string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if len(sql) == 0 {
				return nil
			}
			_, err := m.admin.Exec(ctx, strings.Join(sql, ";\n"))
			return err
		}
	}
	without := func(name string, drop, add []string) benchVariant {
		return benchVariant{name: name, conns: conns, work: viaLedger, setup: run(drop...), teardown: run(add...)}
	}
	variants := []benchVariant{
		{name: "P", conns: conns, work: plainAckWork(createIncident, author)},
		without("landed", nil, nil),
		without("no_checks", []string{dropAckChecks}, []string{addAckChecks}),
		without("no_guard", []string{dropAckGuard}, []string{addAckGuard}),
		without("no_rls", []string{dropAckRLS}, []string{addAckRLS}),
		without("bare", []string{dropAckChecks, dropAckGuard, dropAckRLS}, []string{addAckChecks, addAckGuard, addAckRLS}),
		without("no_brin", []string{dropAckBRINs}, []string{addAckBRINs}),
	}
	if conns[0] != m.owner[0] {
		login := pgx.Identifier{m.writerName}.Sanitize()
		variants = append(variants, without("table_grant",
			[]string{dropAckGuard, `GRANT INSERT ON rac.acks TO ` + login},
			[]string{`REVOKE INSERT ON rac.acks FROM ` + login, addAckGuard}))
	}
	res := runInterleaved(b, nil, variants)

	// Every transaction left its row: the warm-up, the timed ones and,
	// for a variant with a setup, one replanning transaction per
	// connection before the warm-up and before every segment.
	segments := (b.N + benchSegment - 1) / benchSegment
	acks := (len(variants) - 1) * (benchWarmup + b.N + (segments+1)*len(conns))
	expectRowCount(b, m.admin, "public.plain_acks", benchWarmup+b.N)
	expectRowCount(b, m.admin, "rac.acks", acks)

	byName := map[string]variantResult{}
	for i, v := range variants {
		byName[v.name] = res[i]
	}
	p, landed := byName["P"], byName["landed"]
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
