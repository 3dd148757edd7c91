// Package certname names the principal of a verified client
// certificate, as Kafka's ssl.principal.mapping.rules do: a field of the
// certificate (its subject's common name, its whole subject in RFC 2253
// form as Java gives it to Kafka's rules, or its first DNS, URI or email
// SAN), then the first of a list of
// rules that matches it.
//
// Rules are Kafka's syntax, comma-separated, tried in order:
//
//	RULE:^CN=([^,]+),OU=ServiceUsers,.*$/$1/L   a regular expression that must match the whole
//	                                            name, its replacement ($1 its first group), and
//	                                            L or U to lower- or upper-case the result
//	DEFAULT                                     the name as it is
//
// A / inside a pattern or a replacement is written \/. The expressions
// are Go's (RE2), which for what rules use (groups, classes, anchors,
// lazy quantifiers) read as Java's. A name that no rule matches, or that
// a rule maps to nothing, names no principal: the call is refused. No
// rules at all is DEFAULT; empty entries are ignored, as Kafka ignores
// them.
//
// Where Kafka differs: it applies the replacement with Java's
// replaceAll, which for a pattern without anchors replaces the empty
// match at the end too (RULE:(.*)/x$1/ makes abc xabcx there, xabc
// here; anchored patterns, as Kafka's documentation writes them, agree).
// A replacement Java would throw on when the rule is applied (a $
// without a group number, $1 where the pattern has no group) is an
// error here when the rules are read, so the broker does not start.
package certname
