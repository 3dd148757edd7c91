package catalog

import "errors"

// ErrTopicNotFound is returned for a topic that does not exist (or was
// deleted); the server maps it to NotFound.
var ErrTopicNotFound = errors.New("topic not found")

// ErrTopicExists is returned by Apply for a TopicCreated whose name is
// taken; the server maps it to AlreadyExists.
var ErrTopicExists = errors.New("topic already exists")

// ErrInvalid wraps every validation failure (bad name, partition count,
// configuration key or value); the server maps it to InvalidArgument and
// the wrapping message says what to fix.
var ErrInvalid = errors.New("invalid argument")

// ErrBrokerExists is returned by Apply for a BrokerRegistered whose node
// id another broker holds; the server maps it to AlreadyExists.
var ErrBrokerExists = errors.New("broker id taken")

// ErrBrokerRemoved is returned by Apply for a record about a broker that
// was removed from the cluster (a BrokerRegistered under its node id);
// the server maps it to FailedPrecondition.
var ErrBrokerRemoved = errors.New("broker removed")
