package controller

// AddJoined returns the next step for g, one of the groups every broker
// replicates (the metadata log and the consumer offsets), which g.Leader
// leads: the first of members (the cluster's brokers, by id) that the
// group has not got becomes a learner, which copies the log without
// counting towards the quorum (KRaft's observers). One change at a time;
// a broker already in the group, as a voter or a learner, is never added
// again.
func AddJoined(g Group, members []int32) Step {
	if !g.Joinable {
		return wait("the group cannot take new replicas")
	}
	for _, id := range members {
		if !g.Conf.Has(id) {
			return Step{Action: ChangeConf, Changes: []Change{{Op: AddLearner, Node: id}}}
		}
	}
	return wait("every broker replicates the group")
}
