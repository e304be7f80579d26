@testable import BGSyncReplication
import BGSyncStore
import Foundation
import Testing

@Suite("Checkpoint documents")
struct CheckpointTests {
    @Test("history times are IMF-fixdate in GMT, as CouchDB writes them", arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (1_795_419_541.9, "Mon, 23 Nov 2026 07:39:01 GMT"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_704_067_199.0, "Sun, 31 Dec 2023 23:59:59 GMT"),
    ])
    func httpDate(seconds: Double, expected: String) {
        #expect(Checkpoint.httpDate(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test("a source checkpoint that lags behind the target's resumes from the older point, never past it")
    func laggingSource() throws {
        let history = { (session: String, seq: Int) in
            JSONValue.object(JSONObject([("session_id", .string(session)), ("recorded_seq", .integer(seq))]))
        }
        // The same session on both sides (the source written less often): the source's seq.
        let source = JSONValue.object(JSONObject([("session_id", .string("s2")), ("source_last_seq", .integer(300)),
                                                  ("history", .array([history("s2", 300), history("s1", 100)]))]))
        let target = JSONValue.object(JSONObject([("session_id", .string("s2")), ("source_last_seq", .integer(500)),
                                                  ("history", .array([history("s2", 500), history("s1", 100)]))]))
        #expect(Checkpoint.startPoint(source: source, target: target).since == OpaqueSequence(json: "300"))
        // The source never checkpointed this session: the previous common session.
        let older = JSONValue.object(JSONObject([("session_id", .string("s1")), ("source_last_seq", .integer(100)),
                                                 ("history", .array([history("s1", 100)]))]))
        #expect(Checkpoint.startPoint(source: older, target: target).since == OpaqueSequence(json: "100"))
    }
}
