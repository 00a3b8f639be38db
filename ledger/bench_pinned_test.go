package ledger_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/racledger/racledger/ledger"
)

// EnvBenchRoles sets how many extra roles BenchmarkAckPinned creates in
// the cluster before it runs (default 0), to show that what a pinned
// session pays does not grow with the cluster's roles.
const EnvBenchRoles = "RAC_BENCH_ROLES"

// BenchmarkAckPinned measures ledger.Ack by a login pinned to its tenant
// and its domain (rac.tenant_roles, rac.domain_roles), the configuration
// that makes tenants and domains a security boundary, against the
// hand-written insert into public.plain_acks by the same login,
// interleaved, from RAC_BENCH_CLIENTS clients. Run it with
// RAC_BENCH_ROLES=0 and =2000: L/P_pinned_ratio should not move (before
// migration 00019 the scope functions checked membership of every role in
// the cluster, on every statement).
func BenchmarkAckPinned(b *testing.B) {
	extra := benchCount(b, EnvBenchRoles, 0, 0, math.MaxInt)
	m := newMinimumBench(b, plainAcks, "public.plain_acks")
	ctx := context.Background()
	createExtraRoles(b, m, extra)
	for _, sql := range []string{
		`INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, 1)`,
		`INSERT INTO rac.domain_roles (role_name, domain, privilege) VALUES ($1, 'incidents', 'ack')`,
	} {
		if _, err := m.admin.Exec(ctx, sql, m.writerName); err != nil {
			b.Fatalf("pin the writer: %v", err)
		}
	}
	createIncident := actionID(b, m.admin, ledger.Incidents, ledger.CreateIncident)
	plain, viaLedger := plainAckWork(createIncident, m.writerAuthor), ledgerAckWork(benchLedger(""))
	res := runInterleaved(b, nil, []benchVariant{
		{name: "P plain table, pinned writer", conns: m.writer, work: plain},
		{name: "L ledger.Ack, pinned writer", conns: m.writer, work: viaLedger},
	})
	expectRowCount(b, m.admin, "rac.acks", b.N+benchWarmup)
	p, lp := res[0], res[1]
	b.ReportMetric(p.txPerSec(), "P_plain_tx/s")
	b.ReportMetric(lp.txPerSec(), "L_ledger_tx/s")
	b.ReportMetric(lp.txPerSec()/p.txPerSec(), "L/P_pinned_ratio")
	reportSpread(b, "L/P_pinned", lp, p)
}

// createExtraRoles creates n NOLOGIN roles in the cluster for the
// benchmark's duration.
func createExtraRoles(b *testing.B, m minimumBench, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	ctx := context.Background()
	prefix := fmt.Sprintf("rac_bench_%s_", m.writerName[len(m.writerName)-6:])
	if _, err := m.admin.Exec(ctx, `DO $$ BEGIN FOR i IN 1..`+strconv.Itoa(n)+` LOOP
		EXECUTE format('CREATE ROLE %I NOLOGIN', '`+prefix+`' || i); END LOOP; END $$`); err != nil {
		b.Fatalf("create %d roles: %v", n, err)
	}
	b.Cleanup(func() {
		if _, err := m.admin.Exec(ctx, `DO $$ BEGIN FOR i IN 1..`+strconv.Itoa(n)+` LOOP
			EXECUTE format('DROP ROLE %I', '`+prefix+`' || i); END LOOP; END $$`); err != nil {
			b.Errorf("drop %d roles: %v", n, err)
		}
	})
	if _, err := m.admin.Exec(ctx, `ANALYZE pg_catalog.pg_authid`); err != nil {
		b.Fatal(err)
	}
}
