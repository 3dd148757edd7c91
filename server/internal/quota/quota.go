package quota

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is what a rate counts.
type Kind uint8

const (
	// Produce counts bytes of records produced, as the producer encoded
	// them.
	Produce Kind = iota
	// Consume counts bytes of subscribe responses sent.
	Consume
	// Request counts requests: unary calls, Produce requests, Subscribe
	// calls.
	Request

	numKinds
)

// Kinds returns every kind, in order.
func Kinds() [numKinds]Kind { return [numKinds]Kind{Produce, Consume, Request} }

func (k Kind) String() string {
	switch k {
	case Produce:
		return "produce"
	case Consume:
		return "consume"
	case Request:
		return "request"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Unit is what a rate of the kind is in.
func (k Kind) Unit() string {
	if k == Request {
		return "requests/s"
	}
	return "bytes/s"
}

// Limits are one quota's rates, per second; 0 is not set.
type Limits struct {
	ProduceBytes, ConsumeBytes, Requests float64
}

// Rate is the rate of kind k (0: not set).
func (l Limits) Rate(k Kind) float64 {
	switch k {
	case Produce:
		return l.ProduceBytes
	case Consume:
		return l.ConsumeBytes
	case Request:
		return l.Requests
	}
	return 0
}

// IsZero says whether l sets no rate.
func (l Limits) IsZero() bool { return l == Limits{} }

// Validate says what is wrong with l, if anything: a rate negative, not a
// number or infinite, or no rate set at all.
func (l Limits) Validate() error {
	var errs []error
	for _, k := range Kinds() {
		if r := l.Rate(k); r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			errs = append(errs, fmt.Errorf("the %s rate is %v: give a positive number of %s, or leave it out for none", k, r, k.Unit()))
		}
	}
	if len(errs) == 0 && l.IsZero() {
		errs = append(errs, errors.New("no rate set: give a produce, consume or request rate (to remove a quota, delete it)"))
	}
	return errors.Join(errs...)
}

func (l Limits) String() string {
	var parts []string
	for _, k := range Kinds() {
		if r := l.Rate(k); r != 0 {
			parts = append(parts, fmt.Sprintf("%s %v %s", k, r, k.Unit()))
		}
	}
	if len(parts) == 0 {
		return "no rate"
	}
	return strings.Join(parts, ", ")
}

// ValidatePrincipal says what is wrong with a principal a quota names, if
// anything: it is TYPE:NAME, as the broker names callers ("User:alice").
// The default quota is not a principal: "*" is refused.
func ValidatePrincipal(p string) error {
	typ, name, ok := strings.Cut(p, ":")
	switch {
	case p == "":
		return errors.New(`no principal: name one ("User:alice"), or set the default quota`)
	case p == "*":
		return errors.New(`principal "*": for every principal without a quota of its own, set the default quota`)
	case !ok || typ == "" || name == "" || strings.ContainsAny(p, " \t\r\n"):
		return fmt.Errorf(`principal %q is not TYPE:NAME, as the broker names callers ("User:alice")`, p)
	}
	return nil
}

// Quotas are the cluster's quotas: the default, and each principal's
// own. A principal's rate of a kind is its own quota's, else the
// default's.
type Quotas struct {
	Default    Limits
	Principals map[string]Limits
}

// Rate is principal's rate of kind k under q (0: not limited).
func (q *Quotas) Rate(principal string, k Kind) float64 {
	if l, ok := q.Principals[principal]; ok {
		if r := l.Rate(k); r != 0 {
			return r
		}
	}
	return q.Default.Rate(k)
}

// IsZero says whether q limits nothing.
func (q *Quotas) IsZero() bool { return q.Default.IsZero() && len(q.Principals) == 0 }
