import BGSyncStore

/// The source side of one direction, read ahead of the writer: the changes feed one batch
/// after another, and for each batch a task that asks the target what it lacks and fetches it,
/// with up to `depth` batches in flight. Batches come out in feed order, so the writer, and
/// the checkpoints after it, see them exactly as without the overlap.
///
/// Against a server, batches in flight are requests in flight: a CouchDB answers several
/// `_bulk_get`s on all its cores while the previous batch is written locally; pushing, several
/// `_revs_diff`s overlap the local reads.
///
/// Memory stays bounded by bytes as well as by batches: when the batches are big (large
/// documents or attachments), fewer are read ahead, down to one, so that the batches held add
/// up to about ``byteBudget``.
struct ReadAhead {
    /// About how many bytes of fetched documents may be held ahead of the writer.
    static let byteBudget = 32 << 20

    /// How many batches of `batchBytes` each may be held at once: `configured`, or fewer (down
    /// to one) so that they add up to about ``byteBudget``. The read-ahead and the writes in
    /// flight both keep to it.
    static func limit(_ configured: Int, batchBytes: Int) -> Int {
        max(1, min(configured, byteBudget / max(batchBytes, 1)))
    }

    typealias ReadChanges = @Sendable (OpaqueSequence) async throws -> ChangesBatch
    typealias Fetch = @Sendable (ChangesBatch) async throws -> Replicator.SourceBatch

    private let readChanges: ReadChanges
    private let fetch: Fetch
    private let batchSize: Int
    private let depth: Int
    private var changes: Task<ChangesBatch, any Error>?
    private var inFlight: [Task<Replicator.SourceBatch, any Error>] = []
    /// The size of the last batch handed out, the estimate for those in flight.
    private var lastBatchBytes: Int?

    /// Starts reading the feed after `since`; `depth` ≥ 1 batches are read ahead.
    init(since: OpaqueSequence, batchSize: Int, depth: Int, readChanges: @escaping ReadChanges, fetch: @escaping Fetch) {
        self.readChanges = readChanges
        self.fetch = fetch
        self.batchSize = batchSize
        self.depth = max(1, depth)
        changes = Task { try await readChanges(since) }
    }

    /// Whether `batch` is the feed's last: fewer rows than asked for.
    func isLast(_ batch: ChangesBatch) -> Bool { batch.rowsBeforeFilter < batchSize }

    /// The next batch in feed order, with what the target lacks fetched; nil after the last.
    /// Keeps `depth` batches in flight behind it.
    mutating func next() async throws -> Replicator.SourceBatch? {
        // Until a batch shows how big they are, one at a time.
        let depth = lastBatchBytes.map { Self.limit(self.depth, batchBytes: $0) } ?? 1
        while inFlight.count < depth, let pending = changes {
            let batch = try await Replicator.value(of: pending)
            let readChanges = self.readChanges, fetch = self.fetch
            changes = isLast(batch) ? nil : Task { try await readChanges(batch.lastSeq) }
            inFlight.append(Task { try await fetch(batch) })
        }
        guard !inFlight.isEmpty else { return nil }
        let batch = try await Replicator.value(of: inFlight.removeFirst())
        lastBatchBytes = batch.fetchedBytes
        return batch
    }

    /// Stops reading: cancels every request in flight (their results are never written).
    mutating func cancel() {
        changes?.cancel()
        changes = nil
        for task in inFlight { task.cancel() }
        inFlight = []
    }
}
