/// How much big attachment data a batch spools when it is fetched
/// (``ReplicatorConfiguration/spoolBytesPerBatch``): documents are admitted in order while their
/// data fits, the first one always; the data of the others waits at the source
/// (``FetchedRevision/deferredData``) until just before they are written.
struct SpoolBudget {
    /// The bytes a batch may spool ahead of its write.
    let limit: Int
    /// The bytes admitted so far.
    private(set) var spooled = 0

    init(limit: Int) { self.limit = limit }

    /// Whether a document with `bytes` of data to spool is spooled now (and counted), rather
    /// than deferred.
    mutating func admit(_ bytes: Int) -> Bool {
        guard spooled == 0 || spooled + bytes <= limit else { return false }
        spooled += bytes
        return true
    }
}
