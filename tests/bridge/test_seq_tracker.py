from chainflow.bridge.ingest_protocol import SeqTracker


class TestSeqTracker:
    def test_ack_is_the_highest_contiguous_settled_seq(self) -> None:
        tracker = SeqTracker()
        tracker.observe([1, 2, 3, 4])
        for seq in (1, 2, 4):
            tracker.settle(seq)
        assert tracker.highest == 2
        tracker.settle(3)
        assert tracker.highest == 4

    def test_unsettled_first_seqs_hold_the_ack_back(self) -> None:
        # The first message's seqs 1..20 were rate-limited; 21..40 of the next were stored.
        tracker = SeqTracker()
        tracker.observe(list(range(1, 41)))
        for seq in range(21, 41):
            tracker.settle(seq)
        assert tracker.highest is None
        for seq in range(1, 21):  # the client resends them
            tracker.settle(seq)
        assert tracker.highest == 40

    def test_resent_seq_below_the_run_is_ignored(self) -> None:
        tracker = SeqTracker()
        tracker.observe([5, 6])
        tracker.settle(5)
        tracker.settle(6)
        tracker.settle(3)
        assert tracker.highest == 6
