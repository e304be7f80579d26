import BGSyncStore
import Foundation

extension LocalPeer {
    /// Opens the store at `path` for a dry run, which must change nothing: an existing store
    /// read-only (nothing is migrated or written), a missing one as an empty store in memory —
    /// what a real run would create, and find nothing in — without creating the file.
    /// - Throws: ``ReplicationError`` (`localStore`) naming the file.
    package init(inspectingAt path: String) throws {
        do {
            if FileManager.default.fileExists(atPath: path) {
                self.init(store: try DocumentStore.open(at: path, mode: .readOnly))
            } else {
                self.init(store: try DocumentStore.open(at: ":memory:"))
            }
        } catch let error as StoreError {
            throw ReplicationError.localStore(error)
        }
    }
}
