import BGSyncStore
import Foundation

/// Replication ids and checkpoint documents in CouchDB's format, so that operators can read
/// bgsync's `_local/<id>` documents with the tools they know.
enum Checkpoint {
    /// The version of bgsync's replication id scheme (part of the hashed description).
    static let idVersion = 1
    /// History entries kept, as CouchDB does.
    static let maxHistory = 50

    /// A stable id for (local store, remote, direction, filter), independent of credentials:
    /// lowercase hex MD5 of a canonical JSON description.
    static func replicationID(local: String, remote: String, direction: String, filter: ChangesFilter?) -> String {
        var description = JSONObject()
        description.set("scheme", .string("bgsync-replication"))
        description.set("version", .integer(idVersion))
        description.set("local", .string(local))
        description.set("remote", .string(remote))
        description.set("direction", .string(direction))
        switch filter {
        case nil: break
        case .pull(.documentIDs(let ids))?, .push(.documentIDs(let ids))?:
            description.set("doc_ids", .array(ids.sorted().map { .string($0) }))
        case .pull(.selector(let selector))?:
            description.set("selector", selector)
        case .pull(.channels(let channels))?:
            description.set("channels", .array(channels.sorted().map { .string($0) }))
        case .push(.sqlWhere(let expression))?:
            description.set("sql_where", .string(expression))
        }
        return MD5.hex(MD5.digest(Array(JSONValue.object(description).canonicalSerialized.utf8)))
    }

    /// Where to start reading the source's feed, from the checkpoints on both sides
    /// (CouchDB's `compare_replication_logs`): the same session on both sides gives its
    /// `source_last_seq`; otherwise the newest session found in both histories gives its
    /// `recorded_seq`; otherwise the beginning.
    static func startPoint(source: JSONValue?, target: JSONValue?) -> (since: OpaqueSequence, history: [JSONValue]) {
        guard let source, let target else { return (.zero, []) }
        let sourceHistory = source["history"]?.arrayValue ?? []
        if let session = source["session_id"]?.stringValue, session == target["session_id"]?.stringValue,
           let seq = source["source_last_seq"] {
            return (OpaqueSequence(seq), sourceHistory)
        }
        let targetHistory = target["history"]?.arrayValue ?? []
        let sourceSessions = Set(sourceHistory.compactMap { $0["session_id"]?.stringValue })
        let targetSessions = Set(targetHistory.compactMap { $0["session_id"]?.stringValue })
        for index in 0..<max(sourceHistory.count, targetHistory.count) {
            if index < sourceHistory.count, let session = sourceHistory[index]["session_id"]?.stringValue,
               targetSessions.contains(session), let seq = sourceHistory[index]["recorded_seq"] {
                return (OpaqueSequence(seq), sourceHistory)
            }
            if index < targetHistory.count, let session = targetHistory[index]["session_id"]?.stringValue,
               sourceSessions.contains(session), let seq = targetHistory[index]["recorded_seq"] {
                return (OpaqueSequence(seq), sourceHistory)
            }
        }
        return (.zero, [])
    }

    /// The checkpoint body for a session that has reached `lastSeq`.
    static func body(sessionID: String, startTime: Date, startSeq: OpaqueSequence, lastSeq: OpaqueSequence,
                     stats: DirectionResult, previousHistory: [JSONValue]) -> JSONValue {
        var entry = JSONObject()
        entry.set("session_id", .string(sessionID))
        entry.set("start_time", .string(httpDate(startTime)))
        entry.set("end_time", .string(httpDate(Date())))
        entry.set("start_last_seq", startSeq.value)
        entry.set("end_last_seq", lastSeq.value)
        entry.set("recorded_seq", lastSeq.value)
        entry.set("missing_checked", .integer(stats.missingChecked))
        entry.set("missing_found", .integer(stats.missingFound))
        entry.set("docs_read", .integer(stats.docsRead))
        entry.set("docs_written", .integer(stats.docsWritten))
        entry.set("doc_write_failures", .integer(stats.docWriteFailures))
        var history = [JSONValue.object(entry)]
        history += previousHistory.filter { $0["session_id"]?.stringValue != sessionID }.prefix(maxHistory - 1)
        var body = JSONObject()
        body.set("session_id", .string(sessionID))
        body.set("source_last_seq", lastSeq.value)
        body.set("replication_id_version", .integer(idVersion))
        body.set("replicator", .string("bgsync"))
        body.set("history", .array(history))
        return .object(body)
    }

    /// `Mon, 23 Nov 2026 07:39:01 GMT`, as CouchDB writes times in histories (RFC 9110's
    /// IMF-fixdate; formatted by hand: a `DateFormatter` costs more than a batch's checkpoint).
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
