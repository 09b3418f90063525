package link

import (
	_ "embed"
)

// The two root certificate authorities Azure's managed instance
// certificates chain to, which SQL Server must trust for the link (the
// link's scripts create them as MicrosoftPKI and DigiCertPKI, each with
// the issuer *.database.windows.net). They are public data: the DER of
// Debian's ca-certificates files
// /usr/share/ca-certificates/mozilla/Microsoft_RSA_Root_Certificate_Authority_2017.crt
// and DigiCert_Global_Root_G2.crt, embedded so that milink needs no
// file at run time. roots_test.go checks their SHA-1 fingerprints.

//go:embed roots/MicrosoftPKI.der
var microsoftRoot []byte

//go:embed roots/DigiCertPKI.der
var digicertRoot []byte

// RootIssuer is the issuer name the link's scripts add to each root
// (sp_certificate_add_issuer).
const RootIssuer = "*.database.windows.net"

// Root is one of Azure's root certificates as SQL Server holds it.
type Root struct {
	Name string // the certificate's name in master
	DER  []byte
}

// Roots are the two roots, Microsoft's first. The DER slices are copies:
// a caller cannot change the embedded ones.
func Roots() []Root {
	return []Root{
		{Name: "MicrosoftPKI", DER: append([]byte(nil), microsoftRoot...)},
		{Name: "DigiCertPKI", DER: append([]byte(nil), digicertRoot...)},
	}
}
