import BGSyncTestSupport
import BGSyncStore
import Testing

/// `_local/…` documents: revisions `0-N`, no tree, never in the changes feed.
@Suite("Local documents")
struct LocalDocumentTests {
    @Test("writing a _local document gives 0-1, then 0-2; it reads back as the transcript shows")
    func revisions() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let body = #"{"session_id": "s1", "source_last_seq": "5-xyz", "history": []}"#
            #expect(try store.write { try $0.putLocal(id: "_local/ckpt", json: body) } == "0-1")
            // Members are stored as sent (bgsync does not re-encode them): the transcript's answer,
            // but for the spaces inside members.
            #expect(try store.read { try $0.localDocument("_local/ckpt") }
                == #"{"_id":"_local/ckpt","_rev":"0-1","session_id": "s1","source_last_seq": "5-xyz","history": []}"#)
            #expect(try store.write { try $0.putLocal(id: "_local/ckpt", json: #"{"session_id":"s1","source_last_seq":"5-xyz","history":[]}"#) } == "0-2")
            #expect(try store.read { try $0.localDocument("_local/ckpt") }
                == Transcript.localCheckpoint.replacingOccurrences(of: "\"0-1\"", with: "\"0-2\""))
        }
    }

    @Test("the body's _id and _rev are not stored, and _rev is not checked (as CouchDB 3)")
    func revNotChecked() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.write { try $0.putLocal(id: "_local/a", json: #"{"_id":"_local/a","_rev":"0-7","n":1}"#) }
            #expect(try store.write { try $0.putLocal(id: "_local/a", json: #"{"_rev":"0-99","n":2}"#) } == "0-2")
            #expect(try store.read { try $0.localDocument("_local/a") } == #"{"_id":"_local/a","_rev":"0-2","n":2}"#)
        }
    }

    @Test("_local documents have no tree, no sequence and no place in the changes feed or listings")
    func notReplicated() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("doc", "{}")
            let before = try store.info()
            try store.write { try $0.putLocal(id: "_local/ckpt", json: #"{"seq":1}"#) }
            try store.write { try $0.putLocal(id: "_local/ckpt", json: #"{"seq":2}"#) }
            #expect(try store.info() == before)
            #expect(try store.changes().map(\.id) == ["doc"])
            #expect(try store.tree("_local/ckpt") == nil)
            #expect(try store.read { try $0.allDocuments(includeDeleted: true) }.map(\.id) == ["doc"])
            #expect(try store.conflicts().isEmpty)
            let error = #expect(throws: StoreError.self) { try store.document("_local/ckpt") }
            #expect(error?.code == .notFound)
        }
    }

    @Test("deleting a _local document removes it; deleting it again reports it was not there")
    func delete() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.write { try $0.putLocal(id: "_local/ckpt", json: "{}") }
            #expect(try store.write { try $0.deleteLocal(id: "_local/ckpt") })
            #expect(try store.read { try $0.localDocument("_local/ckpt") } == nil)
            #expect(try !store.write { try $0.deleteLocal(id: "_local/ckpt") })
            // Written again, it starts over.
            #expect(try store.write { try $0.putLocal(id: "_local/ckpt", json: "{}") } == "0-1")
        }
    }

    @Test("_local ids are required for local documents, and refused for revisioned ones")
    func ids() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            for id in ["ckpt", "_local/", "_local", "local/x"] {
                let error = #expect(throws: StoreError.self) { try store.write { try $0.putLocal(id: id, json: "{}") } }
                #expect(error?.code == .invalidDocument, "\(id)")
            }
            let put = #expect(throws: StoreError.self) { try store.put("_local/x", "{}") }
            #expect(put?.code == .invalidDocument)
            let replicated = #expect(throws: StoreError.self) { try store.replicate(#"{"_id":"_local/x","_rev":"1-a"}"#) }
            #expect(replicated?.code == .invalidDocument)
            #expect(try store.read { try $0.localDocument("_local/x") } == nil)
        }
    }

    @Test("a _local body must be a JSON object", arguments: ["[]", "1", "{", #"{"a":1"#, ""])
    func bodyMustBeObject(json: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let error = #expect(throws: StoreError.self) { try store.write { try $0.putLocal(id: "_local/x", json: json) } }
            #expect(error?.code == .invalidDocument)
            #expect(try store.read { try $0.localDocument("_local/x") } == nil)
        }
    }

    @Test("_local documents and normal documents commit together in one transaction")
    func sameTransaction() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            #expect(throws: StoreError.self) {
                try store.write { tx in
                    try tx.putLocal(id: "_local/ckpt", json: #"{"seq":1}"#)
                    try tx.put(id: "_bad", json: "{}")
                }
            }
            #expect(try store.read { try $0.localDocument("_local/ckpt") } == nil)
        }
    }
}
