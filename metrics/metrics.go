package metrics

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// SessionCounter is what a session store offers when it can count its live sessions. It is not
// part of session.Store: a store that cannot count cheaply simply has no active-sessions gauge.
type SessionCounter interface {
	CountSessions(ctx context.Context) (int, error)
}

// Certificate is one certificate whose expiry is exported, under a name unique among them.
type Certificate struct {
	Name string // label value: "sp", "idp:idporten:0", …
	Cert *x509.Certificate
}

// IdPCertificates names an IdP's signing certificates "idp:NAME:INDEX".
func IdPCertificates(idp string, certs []*x509.Certificate) []Certificate {
	out := make([]Certificate, 0, len(certs))
	for i, c := range certs {
		out = append(out, Certificate{Name: fmt.Sprintf("idp:%s:%d", idp, i), Cert: c})
	}
	return out
}

// Options configure a Metrics. The zero value is usable: no session gauge, no certificates.
type Options struct {
	// Instruments are the instrument values counted under their own name, in addition to
	// Buypass's (identity.InstrumentSmartCard, …, identity.InstrumentUnknown): typically every
	// instrument a profile names. Any other value counts as "other".
	Instruments []string
	// Sessions backs eidsp_active_sessions; nil leaves the gauge out.
	Sessions SessionCounter
	// Certificates returns the certificates to watch. It is called at every scrape, so that
	// refreshed IdP metadata shows up without a restart.
	Certificates func() []Certificate
	// Metadata returns the IdPs' metadata state; called at every scrape.
	Metadata func() []Metadata
	// Now is the clock certificate expiry is measured with. Default time.Now.
	Now func() time.Time
	// Log receives scrape errors (a store that cannot count). Default slog.Default().
	Log *slog.Logger
}

// Metrics is eidsp's set of Prometheus metrics on its own registry. Safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	handler     http.Handler
	instruments []string
	logins      *prometheus.CounterVec
	logouts     *prometheus.CounterVec
	artifact    prometheus.Histogram
	acs         *prometheus.HistogramVec
	refreshes   *prometheus.CounterVec
}

// sessionCountTimeout bounds the store query a scrape makes.
const sessionCountTimeout = 2 * time.Second

// New registers eidsp's metrics, the Go runtime and the process collectors on a new registry.
func New(opt Options) *Metrics {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		instruments: append([]string{identity.InstrumentSmartCard, identity.InstrumentPasswordOTP,
			identity.InstrumentMobileApp, identity.InstrumentUnknown}, opt.Instruments...),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eidsp_logins_total",
			Help: "Logins that ended, by result (success|failure), reason class of a failure, IdP, profile and instrument.",
		}, []string{"result", "reason", "idp", "profile", "instrument"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eidsp_logouts_total",
			Help: "Logouts by initiator (sp|idp) and result (sent, local_only, success, partial, failure).",
		}, []string{"initiator", "result"}),
		artifact: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eidsp_artifact_resolution_seconds",
			Help:    "Round trip of the SOAP ArtifactResolve to the IdP, failed ones included.",
			Buckets: prometheus.DefBuckets,
		}),
		acs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eidsp_acs_seconds",
			Help:    "Handling of an assertion consumer service request, by binding (artifact|post).",
			Buckets: prometheus.DefBuckets,
		}, []string{"binding"}),
	}
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eidsp_idp_metadata_refreshes_total",
		Help: "Reads of an IdP's configured metadata source, by result (success|failure). Alert on failures.",
	}, []string{"idp", "result"})
	m.reg.MustRegister(m.logins, m.logouts, m.artifact, m.acs, m.refreshes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opt.Sessions != nil {
		m.reg.MustRegister(&sessionsCollector{
			desc:    prometheus.NewDesc("eidsp_active_sessions", "Sessions in the store that have not reached their absolute end of life.", nil, nil),
			counter: opt.Sessions,
		})
	}
	if opt.Certificates != nil {
		m.reg.MustRegister(&certCollector{
			desc: prometheus.NewDesc("eidsp_certificate_expiry_seconds",
				"Seconds until the certificate's NotAfter; negative once it has expired.", []string{"cert"}, nil),
			certs: opt.Certificates,
			now:   opt.Now,
		})
	}
	if opt.Metadata != nil {
		m.reg.MustRegister(&metadataCollector{
			usable: prometheus.NewDesc("eidsp_idp_metadata_usable",
				"1 while the IdP's metadata may be used, 0 once it has expired and nothing newer could be had.", []string{"idp"}, nil),
			validUntil: prometheus.NewDesc("eidsp_idp_metadata_valid_until_seconds",
				"Seconds until the validUntil of the IdP's metadata in use (absent when it has none); negative once passed.", []string{"idp"}, nil),
			list: opt.Metadata,
			now:  opt.Now,
		})
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: scrapeLog{opt.Log},
		// A store that does not answer must not hide the other series.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
	return m
}

// Login counts a login that ended.
func (m *Metrics) Login(result, reason, idp, profile, instrument string) {
	m.logins.WithLabelValues(result, reason, idp, profile, m.instrument(instrument)).Inc()
}

// instrument keeps the instrument label to a fixed set: the value comes from the IdP.
func (m *Metrics) instrument(v string) string {
	if v == "" || slices.Contains(m.instruments, v) {
		return v
	}
	return "other"
}

// Logout counts a logout step: initiator sp or idp.
func (m *Metrics) Logout(initiator, result string) {
	m.logouts.WithLabelValues(initiator, result).Inc()
}

// MetadataRefresh counts a read of an IdP's metadata source.
func (m *Metrics) MetadataRefresh(idp string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.refreshes.WithLabelValues(idp, result).Inc()
}

// Metadata is an IdP's metadata state, for the gauges.
type Metadata struct {
	IdP        string
	Usable     bool
	ValidUntil time.Time // zero: none stated
}

type metadataCollector struct {
	usable, validUntil *prometheus.Desc
	list               func() []Metadata
	now                func() time.Time
}

func (c *metadataCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.usable; ch <- c.validUntil }

func (c *metadataCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, m := range c.list() {
		v := 0.0
		if m.Usable {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.usable, prometheus.GaugeValue, v, m.IdP)
		if !m.ValidUntil.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.validUntil, prometheus.GaugeValue, m.ValidUntil.Sub(now).Seconds(), m.IdP)
		}
	}
}

// ObserveArtifactResolution records one SOAP round trip.
func (m *Metrics) ObserveArtifactResolution(d time.Duration) { m.artifact.Observe(d.Seconds()) }

// ObserveACS records one ACS request on binding.
func (m *Metrics) ObserveACS(binding string, d time.Duration) {
	m.acs.WithLabelValues(binding).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// sessionsCollector asks the store at scrape time rather than tracking logins and logouts,
// which would miss expiry and the sessions other instances create.
type sessionsCollector struct {
	desc    *prometheus.Desc
	counter SessionCounter
}

func (c *sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionCountTimeout)
	defer cancel()
	n, err := c.counter.CountSessions(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("count sessions: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

type certCollector struct {
	desc  *prometheus.Desc
	certs func() []Certificate
	now   func() time.Time
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	seen := map[string]bool{}
	for _, cert := range c.certs() {
		if cert.Cert == nil || seen[cert.Name] {
			continue // a second series with one label value would fail the whole scrape
		}
		seen[cert.Name] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, cert.Cert.NotAfter.Sub(now).Seconds(), cert.Name)
	}
}

// scrapeLog sends promhttp's error messages through our one logger.
type scrapeLog struct{ log *slog.Logger }

func (l scrapeLog) Println(v ...any) { l.log.Warn("metrics scrape", "err", fmt.Sprint(v...)) }
