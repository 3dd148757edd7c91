package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/controller"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Member is one broker of the cluster.
type Member struct {
	NodeID int32
	// Address is where clients reach it ("" until the cluster knows:
	// each broker registers it once it has started).
	Address string
	// PeerAddress is where the other brokers reach it: raft and every
	// call one broker makes to another.
	PeerAddress string
	// Version is its build as it registered it ("" if it has not).
	Version string
}

// Members lists the brokers by node id: the initial ones (Config.Peers)
// and those that joined since (Register).
func (b *Broker) Members() []Member {
	registered := b.catalog.Brokers()
	ids := slices.Collect(maps.Keys(registered))
	for id := range b.cfg.Peers {
		if _, ok := registered[id]; !ok && !b.catalog.Removed(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]Member, 0, len(ids))
	for _, id := range ids {
		m, _ := b.Member(id)
		out = append(out, m)
	}
	return out
}

// Member returns the broker with this id, if the cluster has one.
func (b *Broker) Member(id int32) (Member, bool) {
	addrs, registered := b.catalog.Broker(id)
	m := Member{NodeID: id, Address: addrs.Client, PeerAddress: addrs.Peer, Version: b.catalog.BrokerVersion(id)}
	if id == b.cfg.NodeID {
		m.Address, m.Version = b.cfg.AdvertisedAddress, b.cfg.Version
	}
	peer, initial := b.cfg.Peers[id]
	if initial {
		m.PeerAddress = peer
	}
	// NB: a broker that joined after one since removed has it in its
	// Peers (the brokers Join named).
	return m, (initial || registered) && !b.catalog.Removed(id)
}

// registerSelf records where clients reach this broker in the metadata,
// and its build, unless it says so already: the initial brokers know each
// other's peer addresses from their configuration, and learn the rest
// from here.
//
// NB: it retries while the metadata group cannot take the record (a
// leader change, say): the record is idempotent, and failing would fail
// the broker's start.
func (b *Broker) registerSelf(ctx context.Context) error {
	want := catalog.BrokerAddresses{Client: b.cfg.AdvertisedAddress, Peer: b.cfg.Peers[b.cfg.NodeID]}
	for {
		if got, ok := b.catalog.Broker(b.cfg.NodeID); ok && got == want && b.catalog.BrokerVersion(b.cfg.NodeID) == b.cfg.Version {
			return nil
		}
		err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRegistered{
			BrokerRegistered: &metav1.BrokerRegistered{NodeId: b.cfg.NodeID, Address: want.Client, PeerAddress: want.Peer,
				Initial: !b.cfg.Joining, Version: b.cfg.Version},
		}})
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
		b.logger.Debug("register this broker's addresses: retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(registerRetryInterval):
		}
	}
}

// registerRetryInterval spaces registerSelf's attempts.
const registerRetryInterval = 200 * time.Millisecond

// Register adds a broker joining the running cluster to the metadata (the
// MembershipService's Join), reached by clients at address and by
// brokers at peerAddress, and returns the cluster's brokers, and whether
// the cluster had this one already. Joining again at the same peer
// address changes nothing but, maybe, the client address.
func (b *Broker) Register(ctx context.Context, id int32, address, peerAddress string) ([]Member, bool, error) {
	if id <= 0 {
		return nil, false, errs.Newf(ErrInvalid, "node id %d: node ids are positive", id)
	}
	for _, a := range []string{address, peerAddress} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, false, errs.Newf(ErrInvalid, "address %q: %v", a, err)
		}
	}
	if b.catalog.Removed(id) {
		return nil, false, errs.Newf(ErrBrokerRemoved, "node id %d was removed from the cluster (RemoveBroker) and cannot join again: "+
			"give the broker another node id and an empty data directory", id)
	}
	if addr, initial := b.cfg.Peers[id]; initial {
		if addr != peerAddress {
			return nil, false, errs.Newf(ErrBrokerExists, "node id %d is the broker at %s: give the broker at %s another id",
				id, addr, peerAddress)
		}
		return b.Members(), true, nil
	}
	_, known := b.catalog.Broker(id)
	err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRegistered{
		BrokerRegistered: &metav1.BrokerRegistered{NodeId: id, Address: address, PeerAddress: peerAddress},
	}})
	if err != nil {
		return nil, false, err
	}
	return b.Members(), known, nil
}

// addPeer starts talking raft to a broker that joined.
//
// NB: a broker of Config.Peers is reached where they say, whatever it
// registered: the way from here to it (a proxy, another name) is this
// broker's to configure.
func (b *Broker) addPeer(id int32, address string) {
	if _, configured := b.cfg.Peers[id]; configured || id == b.cfg.NodeID || b.transport == nil {
		return
	}
	if err := b.transport.AddPeer(uint64(id), address); err != nil {
		b.logger.Error("add a joined broker to the raft transport", "node", id, "err", err)
	}
}

// removePeer stops talking raft to a broker removed from the cluster:
// no group has it any more.
func (b *Broker) removePeer(id int32) {
	if id == b.cfg.NodeID || b.transport == nil {
		return
	}
	b.transport.RemovePeer(uint64(id))
}

// addLearners runs until done: the groups every broker replicates (the
// metadata and consumer offsets), when this broker leads them, take each
// broker that joined as a learner, which copies the log without counting
// towards the quorum (KRaft's observers), one at a time, as
// controller.AddJoined plans, and drop those leaving the cluster
// (controller.RemoveLeft), which are never added again.
func (b *Broker) addLearners(done <-chan struct{}) {
	ticker := time.NewTicker(reassignInterval)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		members, leaving := b.placeable(0), b.leaving()
		for _, part := range b.internalParts() {
			if part.Leader() != uint64(b.cfg.NodeID) {
				continue
			}
			g := b.groupState(part)
			step := controller.RemoveLeft(g, leaving)
			if step.Action != controller.ChangeConf {
				step = controller.AddJoined(g, members)
			}
			applyStep(part, step)
		}
	}
}

// allVoters are the voters of the groups every broker replicates (the
// metadata log and the consumer offsets) when they are created: the
// initial brokers. Brokers that join later follow them as learners.
func (b *Broker) allVoters() []uint64 {
	var out []uint64
	for _, id := range slices.Sorted(maps.Keys(b.cfg.Peers)) {
		out = append(out, uint64(id))
	}
	return out
}

// campaignsFirst says whether this broker stands for election at once in
// a new group that every broker replicates: the lowest initial id does,
// so that the first election of a new cluster is not a contest.
func (b *Broker) campaignsFirst() bool { return b.allVoters()[0] == uint64(b.cfg.NodeID) }

// place assigns the replicas of a new topic's partitions over brokers
// (the cluster's, by id), spreading them and their preferred leaders over
// the brokers and over the topics in the catalog (controller.Place). It
// returns controller.ErrReplicationFactor if rf is not 1 to the number
// of brokers.
func (b *Broker) place(brokers []int32, partitions, rf int32) ([][]int32, error) {
	var existing [][]int32
	for _, t := range b.catalog.Topics() {
		for p := range t.Partitions {
			existing = append(existing, t.Replicas(p))
		}
	}
	return controller.Place(brokers, existing, partitions, rf, rand.IntN)
}

// Transport carries raft messages between this broker and the others:
// the server hands down raftstore/transport's, over gRPC.
type Transport interface {
	raftstore.Transport
	// Attach hands what is received to the store.
	Attach(raftstore.Inbound)
	// AddPeer starts talking to the broker with raft id id at address.
	AddPeer(id uint64, address string) error
	// RemovePeer stops talking to it.
	RemovePeer(id uint64)
}

// addPeers starts talking raft to the brokers this one knows of.
func (b *Broker) addPeers() error {
	if b.transport == nil {
		return nil
	}
	for _, m := range b.Members() {
		if m.NodeID == b.cfg.NodeID {
			continue
		}
		if err := b.transport.AddPeer(uint64(m.NodeID), m.PeerAddress); err != nil {
			return err
		}
	}
	return nil
}

// BrokerStates says, as the controller sees them, which brokers are
// online: those in sync in the metadata group. Nil unless this broker is
// the controller.
func (b *Broker) BrokerStates() map[int32]bool {
	if b.ControllerID() != b.cfg.NodeID {
		return nil
	}
	online := map[int32]bool{}
	for _, m := range b.Members() {
		online[m.NodeID] = false
	}
	for _, id := range b.meta.InSync() {
		online[int32(id)] = true
	}
	return online
}
