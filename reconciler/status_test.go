package reconciler_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

const hour = time.Hour

// Each row of the status table (docs/design.md), on its own run and database.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	inc, create := ledger.Incidents, ledger.CreateIncident

	cases := []struct {
		name         string
		arrange      func(t *testing.T, b bundle, run uuid.UUID)
		status       string
		findings     []string
		open         []string
		verdict      string
		opts         func(*reconciler.Options)
		violatedAtIs string // SQL for the expected violated_at of the finding, if any
	}{
		{
			name: "success ack before the deadline is acked",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 0, hour)
				ack(t, b, run, inc, create, "")
			},
			status: "acked", findings: []string{}, open: []string{}, verdict: "clean",
		},
		{
			name: "first success ack after deadline plus grace is late",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, hour)
				ack(t, b, run, inc, create, "")
			},
			status: "late", findings: []string{"incidents/create_incident:late"}, open: []string{}, verdict: "clean",
			violatedAtIs: `SELECT min(acked_at) FROM rac.acks`,
		},
		{
			name: "success within the grace is acked",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, hour)
				ack(t, b, run, inc, create, "")
			},
			opts:   func(o *reconciler.Options) { o.Grace = 2 * hour },
			status: "acked", findings: []string{}, open: []string{}, verdict: "clean",
		},
		{
			name: "error ack without success is failed at once",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 0, hour)
				ack(t, b, run, inc, create, "incident store down")
			},
			status: "failed", findings: []string{"incidents/create_incident:failed"},
			open: []string{"incidents/create_incident:failed"}, verdict: "violated",
			violatedAtIs: `SELECT acked_at FROM rac.acks`,
		},
		{
			name: "no ack before the deadline is pending",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 0, hour)
			},
			status: "pending", findings: []string{}, open: []string{}, verdict: "pending",
		},
		{
			name: "no ack within the grace is pending",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, hour)
			},
			opts:   func(o *reconciler.Options) { o.Grace = 2 * hour },
			status: "pending", findings: []string{}, open: []string{}, verdict: "pending",
		},
		{
			name: "no ack after deadline plus grace is missing",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, hour)
			},
			status: "missing", findings: []string{"incidents/create_incident:missing"},
			open: []string{"incidents/create_incident:missing"}, verdict: "violated",
			violatedAtIs: `SELECT deadline_at FROM rac.expectations`,
		},
		{
			name: "grace moves the missing instant",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 3*hour, hour)
			},
			opts:   func(o *reconciler.Options) { o.Grace = hour },
			status: "missing", findings: []string{"incidents/create_incident:missing"},
			open: []string{"incidents/create_incident:missing"}, verdict: "violated",
			violatedAtIs: `SELECT deadline_at + interval '1 hour' FROM rac.expectations`,
		},
		{
			name: "acked but never expected is drift",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				ack(t, b, run, inc, create, "")
			},
			status: "drift", findings: []string{"incidents/create_incident:drift"},
			open: []string{"incidents/create_incident:drift"}, verdict: "violated",
			violatedAtIs: `SELECT acked_at FROM rac.acks`,
		},
		{
			name: "an error ack never expected is drift too",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				ack(t, b, run, inc, create, "boom")
			},
			status: "drift", findings: []string{"incidents/create_incident:drift"},
			open: []string{"incidents/create_incident:drift"}, verdict: "violated",
		},
		{
			name: "an expectation without deadline is invalid and never missing",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, 0)
			},
			status: "pending", findings: []string{"incidents/create_incident:invalid"},
			open: []string{"incidents/create_incident:invalid"}, verdict: "violated",
			violatedAtIs: `SELECT declared_at FROM rac.expectations`,
		},
		{
			name: "an expectation without deadline is never late either",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, inc, create, 2*hour, 0)
				ack(t, b, run, inc, create, "")
			},
			status: "acked", findings: []string{"incidents/create_incident:invalid"},
			open: []string{"incidents/create_incident:invalid"}, verdict: "violated",
		},
		{
			name: "finalize_run missing makes the run stale",
			arrange: func(t *testing.T, b bundle, run uuid.UUID) {
				declare(t, b, run, ledger.Orchestrator, ledger.FinalizeRun, 2*hour, hour)
			},
			status:   "missing",
			findings: []string{"orchestrator/finalize_run:missing", "orchestrator/finalize_run:stale"},
			open:     []string{"orchestrator/finalize_run:missing", "orchestrator/finalize_run:stale"}, verdict: "violated",
			violatedAtIs: `SELECT deadline_at FROM rac.expectations`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*reconciler.Options)
			if tc.opts != nil {
				opts = append(opts, tc.opts)
			}
			b := setup(t, opts...)
			run := uuid.New()
			tc.arrange(t, b, run)

			sum := pass(t, b)
			if tc.status == "acked" && len(tc.findings) == 0 {
				require.Zero(t, sum.CandidateRuns, "a run acked on time needs no record")
			} else {
				require.Equal(t, 1, sum.CandidateRuns)
			}
			require.Equal(t, tc.findings, findings(t, b, run))
			require.Equal(t, tc.open, openFindings(t, b, run))
			require.Equal(t, tc.verdict, verdict(t, b, run))
			if tc.violatedAtIs != "" {
				require.Equal(t, len(tc.findings), count(t, b, `SELECT count(*) FROM rac.findings WHERE violated_at = (`+tc.violatedAtIs+`)`),
					"violated_at of the findings")
			}
			require.Equal(t, 0, count(t, b, `SELECT count(*) FROM rac.findings WHERE detected_at < violated_at`))

			res, err := b.rec.ReconcileRun(b.ctx, run)
			require.NoError(t, err)
			require.Equal(t, tc.verdict, res.Verdict)
			got := map[string]int{"acked": len(res.Acked), "late": len(res.Late), "failed": len(res.Failed),
				"pending": len(res.Pending), "missing": len(res.Missing), "drift": len(res.Drift)}
			require.Equal(t, 1, got[tc.status], "ReconcileRun status %s in %+v", tc.status, res)
			require.Equal(t, tc.status == "missing" && len(tc.findings) == 2, res.Stale)

			again := pass(t, b)
			require.Zero(t, again.FindingsRecorded, "a second pass records nothing new")
			require.Equal(t, tc.findings, findings(t, b, run))
		})
	}
}

func TestReconcileRunUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.rec.ReconcileRun(b.ctx, uuid.New())
	require.ErrorIs(t, err, reconciler.ErrRunNotFound)
	require.Zero(t, count(t, b, `SELECT count(*) FROM rac.reconciliations`), "nothing recorded")
}
