package main

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// knownLabels are label values of rac's counter vectors that must exist
// from the start, at zero, for vectors whose package does not create them
// itself (the sealer's), so that increase() alerts see the first event.
var knownLabels = map[string][]string{
	"rac_seals_total": {"sealed", "empty", "error"},
}

// initRegisterer registers on the wrapped Registerer and then creates the
// knownLabels series of each counter vector it registers.
type initRegisterer struct{ prometheus.Registerer }

func (r initRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	if cv, ok := c.(*prometheus.CounterVec); ok {
		if values := knownLabels[collectorName(cv)]; values != nil {
			for _, v := range values {
				cv.WithLabelValues(v)
			}
		}
	}
	return nil
}

func (r initRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// collectorName is the fully qualified name of c's single metric, "" when
// it has several.
func collectorName(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 8)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		// Desc has no accessor; its String is `Desc{fqName: "NAME", ...`.
		s := d.String()
		if _, rest, ok := strings.Cut(s, `fqName: "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				names = append(names, name)
			}
		}
	}
	if len(names) != 1 {
		return ""
	}
	return names[0]
}
