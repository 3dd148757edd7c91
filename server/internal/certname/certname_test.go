package certname

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/url"
	"strings"
	"testing"
)

func mapper(field, rules string) (*Mapper, error) {
	rs, err := ParseRules(rules)
	if err != nil {
		return nil, err
	}
	return New(field, rs)
}

func cert() *x509.Certificate {
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/billing/sa/worker")
	return &x509.Certificate{
		Subject:        pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"ServiceUsers"}, Organization: []string{"Acme"}},
		DNSNames:       []string{"billing.clients.example", "other.example"},
		URIs:           []*url.URL{spiffe},
		EmailAddresses: []string{"alice@acme.example"},
	}
}

// TestName: each field, and Kafka's documented rules, name the
// principal as Kafka would.
func TestName(t *testing.T) {
	for _, tc := range []struct {
		field, rules, want string
	}{
		{"cn", "", "Alice"},
		{"subject", "", "CN=Alice,OU=ServiceUsers,O=Acme"},
		{"san-dns", "", "billing.clients.example"},
		{"san-uri", "", "spiffe://cluster.local/ns/billing/sa/worker"},
		{"san-email", "", "alice@acme.example"},
		{"subject", "DEFAULT", "CN=Alice,OU=ServiceUsers,O=Acme"},
		// Kafka's documentation's examples.
		{"subject", `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "Alice"},
		{"subject", `RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$3/L, DEFAULT`, "alice@acme"},
		{"subject", `RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U`, "ALICE"},
		// The first rule that matches wins; one that does not is passed.
		{"subject", "RULE:^CN=Bob,.*$/bob/, RULE:^CN=([^,]+),.*$/svc-$1/L, DEFAULT", "svc-alice"},
		{"subject", "RULE:^CN=Bob,.*$/bob/,\n DEFAULT", "CN=Alice,OU=ServiceUsers,O=Acme"},
		// The pattern must match the whole name.
		{"cn", "RULE:lic/x/,DEFAULT", "Alice"},
		// A / escaped, a group past the groups, $0.
		{"san-uri", `RULE:^spiffe:\/\/cluster.local\/ns\/([^\/]+)\/sa\/(.+)$/$1\/$2/`, "billing/worker"},
		{"cn", `RULE:^(A)lice$/$12/`, "A2"},
		{"cn", `RULE:^Alice$/$0!/`, "Alice!"},
		{"cn", `RULE:^(Al)ice$/$5 \$1 $1/`, "$5 $1 Al"},
		// Empty entries are ignored, as Kafka ignores them.
		{"cn", "DEFAULT,", "Alice"},
		{"cn", " , RULE:^(A)lice$/$1/ ,, DEFAULT", "A"},
		{"san-dns", `RULE:^([a-z]+)\.clients\.example$/$1/`, "billing"},
	} {
		m, err := mapper(tc.field, tc.rules)
		if err != nil {
			t.Errorf("%s by %q: %v", tc.field, tc.rules, err)
			continue
		}
		if got, err := m.Name(cert()); err != nil || got != tc.want {
			t.Errorf("%s by %q: %q, %v; want %q", tc.field, tc.rules, got, err, tc.want)
		}
	}
}

// TestSubjectInTheCertificatesOrder: the subject reads as Kafka reads
// it, the certificate's own order reversed, whichever order that is.
func TestSubjectInTheCertificatesOrder(t *testing.T) {
	attr := func(oid asn1.ObjectIdentifier, v any) pkix.RelativeDistinguishedNameSET {
		return pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}}
	}
	ia5 := func(v string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(v)} }
	cn, ou, o := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 10}
	serial, dc := asn1.ObjectIdentifier{2, 5, 4, 5}, asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	for _, tc := range []struct {
		seq  pkix.RDNSequence
		want string
	}{
		// openssl req -subj "/O=Acme/OU=ServiceUsers/CN=alice", and Go's own order.
		{pkix.RDNSequence{attr(o, "Acme"), attr(ou, "ServiceUsers"), attr(cn, "alice")}, "CN=alice,OU=ServiceUsers,O=Acme"},
		// openssl req -subj "/CN=alice/OU=ServiceUsers/O=Acme".
		{pkix.RDNSequence{attr(cn, "alice"), attr(ou, "ServiceUsers"), attr(o, "Acme")}, "O=Acme,OU=ServiceUsers,CN=alice"},
		// An Active Directory's: DC by name, attributes without an RFC 2253
		// keyword (SERIALNUMBER, emailAddress) as OID=#DER, specials and a
		// leading space escaped, as Java writes them.
		{pkix.RDNSequence{attr(dc, ia5("com")), attr(dc, ia5("example")), attr(o, "Acme, Inc."), attr(serial, "42"),
			attr(cn, " alice"), attr(email, ia5("a@b.c"))},
			`1.2.840.113549.1.9.1=#16056140622e63,CN=\ alice,2.5.4.5=#13023432,O=Acme\, Inc.,DC=example,DC=com`},
	} {
		raw, err := asn1.Marshal(tc.seq)
		if err != nil {
			t.Fatal(err)
		}
		c := &x509.Certificate{RawSubject: raw}
		c.Subject.FillFromRDNSequence(&tc.seq)
		m, _ := mapper("subject", "")
		if got, err := m.Name(c); err != nil || got != tc.want {
			t.Errorf("subject %q, %v; want %q", got, err, tc.want)
		}
	}
}

// TestNoName: a name no rule matches, one mapped to nothing, a field the
// certificate lacks: each refused, saying why.
func TestNoName(t *testing.T) {
	for _, tc := range []struct {
		field, rules, want string
	}{
		{"subject", "RULE:^CN=Bob,.*$/bob/", `the client certificate's subject "CN=Alice,OU=ServiceUsers,O=Acme" matches none of the principal mapping rules`},
		{"cn", "RULE:^Alice$//", `the rule RULE:^Alice$// maps the client certificate's cn "Alice" to an empty name`},
	} {
		m, err := mapper(tc.field, tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.Name(cert()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s by %q: %q, %v; want an error saying %q", tc.field, tc.rules, got, err, tc.want)
		}
	}
	m, _ := New("san-dns", nil)
	if got, err := m.Name(&x509.Certificate{Subject: pkix.Name{CommonName: "bare"}}); err == nil || !strings.Contains(err.Error(), `(subject "CN=bare") has no san-dns`) {
		t.Errorf("a certificate without a DNS SAN: %q, %v", got, err)
	}
}

// TestBadRules: each says which rule and what to fix.
func TestBadRules(t *testing.T) {
	for rules, want := range map[string]string{
		"RULE:^CN=(.*$/$1/":    "rule 1: pattern",
		"RULE:^CN=(.*)$":       "rule 1",
		"RULE:^CN=(.*)$/$1":    "the replacement has no closing /",
		"DEFAULT,RULE:x/y/Q":   `after rule 2 (RULE:x/y/): want a comma before the next rule, not "Q"`,
		"DEFAULT, MAP:x":       "rule 2",
		"RULE:x/y/ DEFAULT":    "after rule 1 (RULE:x/y/): want a comma",
		"RULE:^Alice$/$1/":     "the replacement names group $1, and the pattern has no group",
		"RULE:^(A)lice$/$/":    "a $ without a group number",
		"RULE:^(A)lice$/${x}/": "a $ without a group number",
		`RULE:^(A)lice$/x\/`:   "the replacement has no closing /",
	} {
		if _, err := ParseRules(rules); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", rules, err, want)
		}
	}
	if _, err := New("email", nil); err == nil || !strings.Contains(err.Error(), `"email": use one of cn, subject, san-dns, san-uri, san-email`) {
		t.Errorf("a bad field: %v", err)
	}
}
