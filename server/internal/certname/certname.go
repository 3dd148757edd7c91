package certname

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
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

// subject is cert's subject in RFC 2253 form, in the order the
// certificate has it, last RDN first, as Java's X500Principal.getName
// gives it to Kafka's rules. (pkix.Name.String reorders the attributes;
// a certificate made by openssl -subj "/CN=a/O=b" would read O=b,CN=a
// to Kafka and CN=a,O=b to it.)
func subject(cert *x509.Certificate) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	return rdns.String()
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
			r.pattern, r.replacement = re, parseReplacement(replacement, re.NumSubexp())
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
		if rest == "" {
			return nil, errors.New("a comma after the last rule: remove it")
		}
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
// group: group 1, then "2").
func parseReplacement(s string, groups int) []part {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			lit.WriteByte(s[i])
		case s[i] == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			end := i + 2
			for end < len(s) && s[end] >= '0' && s[end] <= '9' {
				end++
			}
			g, err := strconv.Atoi(s[i+1 : end])
			for (err != nil || g > groups) && end > i+2 {
				end--
				g, err = strconv.Atoi(s[i+1 : end])
			}
			if err != nil || g > groups {
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
	return parts
}
