// Package records encodes the payload of a stored batch: the records of
// one produce request to one partition, as a sequence of
//
//	uvarint length | runnel.v1.Record (protobuf, offset unset)
//
// The broker sets each record's timestamp before encoding, so a stored
// record is complete but for its offset, which is base_offset + its
// position in the batch (offsets are never stored per record).
package records
