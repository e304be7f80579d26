import BGSyncStore
import Testing

@Suite("Incoming documents")
struct IncomingDocumentTests {
    @Test("metadata of the usual shapes is read, the body kept verbatim")
    func usual() throws {
        let document = try IncomingDocument(json: #"{"_id":"a\u00e9","_rev":"3-ccc","_revisions":{"start":3,"ids":["ccc","bbb","aaa"],"x":[1]},"v": 1.50,"_deleted":true}"#)
        #expect(document.id == "aé")
        #expect(document.rev?.description == "3-ccc")
        #expect(document.revisions?.map(\.description) == ["3-ccc", "2-bbb", "1-aaa"])
        #expect(document.deleted)
        #expect(document.body == #"{"v": 1.50}"#)
    }

    @Test("duplicate members: the first start and ids of _revisions, the last _id, as JSONValue lookups do")
    func duplicates() throws {
        let document = try IncomingDocument(json: #"{"_id":"x","_id":"y","_revisions":{"start":2,"start":9,"ids":["b","a"],"ids":["z"]}}"#)
        #expect(document.id == "y")
        #expect(document.revisions?.map(\.description) == ["2-b", "1-a"])
    }

    @Test("unusual shapes get the same clear errors", arguments: [
        (#"{"_id":1}"#, "_id must be a string"),
        (#"{"_rev":"x"}"#, "revision"),
        (#"{"_revisions":{"start":3.0,"ids":["a"]}}"#, "_revisions must be"),
        (#"{"_revisions":{"start":1,"ids":[1]}}"#, "_revisions.ids must hold strings"),
        (#"{"_revisions":{"ids":["a"]}}"#, "_revisions must be"),
        (#"{"_revisions":{"start":1,"ids":["a","b"]}}"#, "must be at least the number of ids"),
        (#"{"_deleted":"yes"}"#, "_deleted must be true or false"),
        (#"{"_rev":"2-b","_revisions":{"start":3,"ids":["c","b"]}}"#, "does not match _revisions"),
    ])
    func errors(json: String, message: String) {
        #expect {
            _ = try IncomingDocument(json: json)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
