package raftstore

import (
	"fmt"
	"time"
)

// applyRetention deletes whole head segments that retention no longer
// keeps, on the append goroutine (the log's writer). Only segments wholly at or below the
// commit index go: raft treats deleted entries as compacted, which it
// allows only for committed ones. State machine partitions keep their log
// for their state: only their snapshots delete it (snapshot.go).
func (p *Partition) applyRetention(a *appenderState) error {
	if p.cfg.Apply != nil || (p.cfg.RetentionTime <= 0 && p.cfg.RetentionBytes <= 0) {
		return nil
	}
	segs := p.log.Segments()
	commit := p.commitIndex.Load()
	now := time.Now()
	total := p.log.Size()
	var deleteBefore uint64
	for _, s := range segs {
		if s.Active || s.LastIndex > commit {
			break
		}
		expired := p.cfg.RetentionTime > 0 &&
			now.Sub(time.UnixMilli(s.MaxTimestamp)) > p.cfg.RetentionTime
		oversized := p.cfg.RetentionBytes > 0 && total-s.Size >= p.cfg.RetentionBytes
		if !expired && !oversized {
			break
		}
		total -= s.Size
		deleteBefore = s.LastIndex + 1
	}
	if deleteBefore == 0 {
		return nil
	}
	// Save the commit index the appender knows before deleting. It can
	// still lag what is deleted (the loop applies, and so moves commitIndex,
	// before the appender sees the message carrying the new commit), so
	// what guarantees raft a commit index at or past the log start on
	// restart is openPartition raising it to FirstIndex-1.
	if err := p.saveState(a, true /* force */); err != nil {
		return err
	}
	b, n, err := p.log.DeleteBefore(deleteBefore)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	p.logger.Info("retention deleted segments", "segments", n, "log_start_offset", b.NextOffset)
	p.changed.notify()
	return nil
}
