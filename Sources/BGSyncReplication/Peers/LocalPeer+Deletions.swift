import BGSyncStore

extension LocalPeer {
    package func liveDocumentCount() async throws -> Int? {
        try read { try $0.liveDocumentCount() }
    }

    package func liveDocumentIDs(among ids: [String]) async throws -> Set<String> {
        try read { try $0.liveDocumentIDs(among: ids) }
    }

    /// Reads the store, turning store errors into replication errors.
    func read<T>(_ body: (StoreReader) throws -> T) throws -> T {
        try local(reader) { try $0.read { try body($0) } }
    }
}
