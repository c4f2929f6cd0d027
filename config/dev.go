package config

// Dev is the configuration of `eidsp dev`: the SP on spBase, the development IdP's metadata in
// idpMetadataFile (acting as ID-porten and as a Buypass IPS broker), generated keys in dataDir,
// and the three Buypass profiles of spec/PROFILE.md §3 plus ID-porten at both levels.
func Dev(dataDir, listen, spBase, idpMetadataFile string) *Config {
	c := &Config{
		Listen:  listen,
		BaseURL: spBase,
		DataDir: dataDir,
		SP: SPConfig{
			CertFile: dataDir + "/sp.crt",
			KeyFile:  dataDir + "/sp.key",
		},
		Log: LogConfig{Format: "text"},
		UI:  UIConfig{PortalName: "eidsp (development)"},
		IdPs: []IdPConfig{
			{
				Name: "idporten", Preset: PresetIDPorten, MetadataFile: idpMetadataFile,
				AllowTestPersons: true, AllowInsecureMetadata: true,
			},
			{
				Name: "ips", Preset: PresetIPS, MetadataFile: idpMetadataFile,
				AllowTestPersons: true, AllowInsecureMetadata: true,
			},
		},
		Profiles: []ProfileConfig{
			{Name: "buypass", Label: "profile.buypass", IdP: "ips", MinLevel: 4,
				Instruments: []string{"ips:BPSC", "ips:OTP1PKI", "ips:CC2PKI"}},
			{Name: "buypass-smartcard", Label: "profile.buypass-smartcard", IdP: "ips", MinLevel: 4,
				Instruments: []string{"ips:BPSC"}},
			{Name: "buypass-mobile", Label: "profile.buypass-mobile", IdP: "ips", MinLevel: 4,
				Instruments: []string{"ips:OTP1PKI", "ips:CC2PKI"}},
			{Name: "idporten", Label: "profile.idporten", IdP: "idporten", MinLevel: 3},
			{Name: "idporten-high", Label: "profile.idporten-high", IdP: "idporten", MinLevel: 4},
		},
	}
	c.Defaults()
	return c
}
