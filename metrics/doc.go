// Package metrics owns eidsp's Prometheus metrics: one registry per Metrics (never the global
// default one), the series the handlers feed, and the collectors that ask for their value at
// scrape time.
//
// The flow: cmd builds a Metrics from the configuration (the instruments the profiles name, the
// certificates to watch, the store when it can count sessions) and hands it to the handlers,
// which call Login, Logout, ObserveArtifactResolution and ObserveACS as requests end and serve
// Handler at GET /metrics. Active sessions and certificate expiry are computed when Prometheus
// scrapes, so they are never stale.
//
// Series:
//
//	eidsp_logins_total{result,reason,idp,profile,instrument}  result success|failure; reason "" on success
//	eidsp_logouts_total{initiator,result}                      initiator sp|idp
//	eidsp_artifact_resolution_seconds                          the SOAP round trip of ArtifactResolve
//	eidsp_acs_seconds{binding}                                 a whole ACS request; binding artifact|post
//	eidsp_active_sessions                                      live sessions, when the store can count them
//	eidsp_certificate_expiry_seconds{cert}                     until NotAfter; negative once expired
//
// plus the Go runtime and process collectors. Label values come from configuration (IdP and
// profile names) or from fixed sets in code (results, reasons); the one value an IdP chooses, the
// instrument, is mapped onto a fixed set, everything else counting as "other", so that a
// misbehaving IdP cannot grow the series without bound.
package metrics
