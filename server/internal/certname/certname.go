package certname

import (
	"cmp"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// Fields are what of a certificate may name its principal.
var Fields = []string{"cn", "subject", "san-dns", "san-uri", "san-email"}

// Mapper names certificates' principals.
type Mapper struct {
	field string
	rules Rules
}

// Rules are mapping rules, in order; none is DEFAULT.
type Rules []rule

// rule is one mapping rule; a nil pattern is DEFAULT.
type rule struct {
	text        string // as written, for messages
	pattern     *regexp.Regexp
	replacement []part
	lower       bool
	upper       bool
}

// part is a piece of a replacement: a group of the match, or (group -1)
// a literal.
type part struct {
	literal string
	group   int
}

// New is a Mapper that names a certificate by field (one of Fields),
// mapped by rules.
func New(field string, rules Rules) (*Mapper, error) {
	if !validField(field) {
		return nil, fmt.Errorf("%q: use one of %s", field, strings.Join(Fields, ", "))
	}
	return &Mapper{field: field, rules: rules}, nil
}

func validField(f string) bool {
	for _, x := range Fields {
		if f == x {
			return true
		}
	}
	return false
}

// Name is cert's principal name (without "User:"), or why it has none.
func (m *Mapper) Name(cert *x509.Certificate) (string, error) {
	name := m.fieldOf(cert)
	if name == "" {
		return "", fmt.Errorf("the client certificate (subject %q) has no %s to name its principal", cert.Subject.String(), m.field)
	}
	if len(m.rules) == 0 {
		return name, nil
	}
	for _, r := range m.rules {
		out, ok := r.apply(name)
		if !ok {
			continue
		}
		if out == "" {
			return "", fmt.Errorf("the rule %s maps the client certificate's %s %q to an empty name", r.text, m.field, name)
		}
		return out, nil
	}
	return "", fmt.Errorf("the client certificate's %s %q matches none of the principal mapping rules", m.field, name)
}

func (m *Mapper) fieldOf(cert *x509.Certificate) string {
	first := func(names []string) string {
		if len(names) > 0 {
			return names[0]
		}
		return ""
	}
	switch m.field {
	case "subject":
		return subject(cert)
	case "san-dns":
		return first(cert.DNSNames)
	case "san-email":
		return first(cert.EmailAddresses)
	case "san-uri":
		if len(cert.URIs) > 0 {
			return cert.URIs[0].String()
		}
		return ""
	}
	return cert.Subject.CommonName
}

// subject is cert's subject as Java's X500Principal.getName() gives it
// to Kafka's rules (RFC 2253): the certificate's own order, last RDN
// first, the keywords of RFC 2253 only (others as OID=#hex of the value's
// DER), the value's bytes as they are. pkix.Name.String reorders the
// attributes and names others (SERIALNUMBER), so rules ported from Kafka
// would not match it.
func subject(cert *x509.Certificate) string {
	var rdns []attributeSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, a := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, a)
		}
	}
	return b.String()
}

// attribute is an AttributeTypeAndValue with its value's DER as it is.
type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// attributeSET is an RDN (encoding/asn1 reads a type named *SET as a SET).
type attributeSET []attribute

// keywords are RFC 2253's, the ones Java writes by name.
var keywords = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
	"2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}

func writeAttribute(b *strings.Builder, a attribute) {
	keyword, named := keywords[a.Type.String()]
	value, isString := stringValue(a.Value)
	if !named || !isString {
		b.WriteString(cmp.Or(keyword, a.Type.String()))
		b.WriteString("=#")
		b.WriteString(hex.EncodeToString(a.Value.FullBytes))
		return
	}
	b.WriteString(keyword)
	b.WriteByte('=')
	// As Java: the specials escaped anywhere, NUL as \00, leading and
	// trailing spaces escaped.
	lead := len(value) - len(strings.TrimLeft(value, " \r"))
	trail := len(strings.TrimRight(value, " \r"))
	for i, c := range value {
		switch {
		case strings.ContainsRune(`,=+<>#;"\`, c):
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == 0:
			b.WriteString(`\00`)
		case (c == ' ' || c == '\r') && (i < lead || i >= trail):
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
}

// stringValue is a directory string's text: UTF8String, PrintableString,
// IA5String, T61String, GeneralString (their bytes) or BMPString.
func stringValue(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String, 27:
		return string(v.Bytes), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

func (r rule) apply(name string) (string, bool) {
	if r.pattern == nil {
		return name, true
	}
	m := r.pattern.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range r.replacement {
		if p.group >= 0 {
			b.WriteString(m[p.group])
		} else {
			b.WriteString(p.literal)
		}
	}
	out := b.String()
	switch {
	case r.lower:
		out = strings.ToLower(out)
	case r.upper:
		out = strings.ToUpper(out)
	}
	return out, true
}

// ParseRules parses rules in Kafka's ssl.principal.mapping.rules syntax
// ("": none). Its errors say what to fix in which rule.
func ParseRules(s string) (Rules, error) {
	var out Rules
	rest := strings.TrimFunc(s, unicode.IsSpace)
	for n := 1; rest != ""; n++ {
		if rest[0] == ',' { // NB: an empty entry, which Kafka ignores
			rest = strings.TrimLeftFunc(rest[1:], unicode.IsSpace)
			continue
		}
		start := rest
		var r rule
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			var pattern, replacement string
			var ok bool
			if pattern, rest, ok = upToSlash(rest[len("RULE:"):]); !ok {
				return nil, fmt.Errorf("rule %d (%.40q): want RULE:PATTERN/REPLACEMENT/ with an optional L or U after, and / written \\/ inside", n, start)
			}
			if replacement, rest, ok = upToSlash(rest); !ok {
				return nil, fmt.Errorf("rule %d (%.40q): the replacement has no closing /: want RULE:PATTERN/REPLACEMENT/", n, start)
			}
			if strings.HasPrefix(rest, "L") || strings.HasPrefix(rest, "U") {
				r.lower, r.upper = rest[0] == 'L', rest[0] == 'U'
				rest = rest[1:]
			}
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("rule %d: pattern %q: %w", n, pattern, err)
			}
			parts, err := parseReplacement(replacement, re.NumSubexp())
			if err != nil {
				return nil, fmt.Errorf("rule %d (%.40q): %w", n, start, err)
			}
			r.pattern, r.replacement = re, parts
		default:
			return nil, fmt.Errorf("rule %d (%.40q): want RULE:PATTERN/REPLACEMENT/[LU] or DEFAULT", n, start)
		}
		r.text = strings.TrimFunc(start[:len(start)-len(rest)], unicode.IsSpace)
		out = append(out, r)
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("after rule %d (%s): want a comma before the next rule, not %.40q", n, r.text, rest)
		}
		rest = strings.TrimLeftFunc(rest[1:], unicode.IsSpace)
	}
	return out, nil
}

// upToSlash splits s at its first / that no \ escapes.
func upToSlash(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '/':
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// parseReplacement reads a replacement as Java's replaceAll does: \x is
// x, $N is group N ($0 the whole name). As Kafka's mapper, a $N past the
// groups is read as the longest prefix of N that names one ($12 with one
// group: group 1, then "2"), or as text if none does. What Java would
// throw on when the rule is applied is an error here, when it is read:
// a $ without a group number, a group named by a pattern that has none.
func parseReplacement(s string, groups int) ([]part, error) {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s): // NB: upToSlash leaves no \ last
			i++
			lit.WriteByte(s[i])
		case s[i] == '$':
			end := i + 1
			for end < len(s) && s[end] >= '0' && s[end] <= '9' {
				end++
			}
			if end == i+1 {
				return nil, errors.New(`a $ without a group number in the replacement: write \$ for a $`)
			}
			g, err := strconv.Atoi(s[i+1 : end])
			for (err != nil || g > groups) && end > i+2 {
				end--
				g, err = strconv.Atoi(s[i+1 : end])
			}
			if err != nil || g > groups {
				if groups == 0 {
					return nil, fmt.Errorf("the replacement names group $%s, and the pattern has no group: put one in ( )", s[i+1:end])
				}
				lit.WriteByte('$')
				continue
			}
			if lit.Len() > 0 {
				parts = append(parts, part{literal: lit.String(), group: -1})
				lit.Reset()
			}
			parts = append(parts, part{group: g})
			i = end - 1
		default:
			lit.WriteByte(s[i])
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, part{literal: lit.String(), group: -1})
	}
	return parts, nil
}
