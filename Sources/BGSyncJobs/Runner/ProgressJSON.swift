import BGSyncReplication
import BGSyncStore
import Logging

/// JSON shapes of live progress and of run results (state database, `--json`, hooks), with
/// CouchDB's counter names.
package enum ProgressJSON {
    /// Live progress: `{"phase":"pull","docs_read":…,"docs_written":…,"bytes_received":…}`.
    package static func encode(_ progress: ReplicationProgress) -> String {
        var object = JSONObject()
        object.set("phase", .string(progress.direction.rawValue))
        object.set("changes_read", .integer(progress.counters.changesRead))
        object.set("revisions_checked", .integer(progress.counters.missingChecked))
        object.set("missing_found", .integer(progress.counters.missingFound))
        object.set("docs_read", .integer(progress.counters.docsRead))
        object.set("docs_written", .integer(progress.counters.docsWritten))
        object.set("doc_write_failures", .integer(progress.counters.docWriteFailures))
        object.set("conflicts_created", .integer(progress.counters.conflictsCreated))
        object.set("bytes_received", .integer(progress.bytesReceived))
        object.set("bytes_sent", .integer(progress.bytesSent))
        return JSONValue.object(object).serialized
    }

    /// One direction's counters.
    package static func direction(_ result: DirectionResult) -> JSONValue {
        var object = JSONObject()
        object.set("docs_read", .integer(result.docsRead))
        object.set("docs_written", .integer(result.docsWritten))
        object.set("doc_write_failures", .integer(result.docWriteFailures))
        object.set("missing_checked", .integer(result.missingChecked))
        object.set("missing_found", .integer(result.missingFound))
        object.set("conflicts_created", .integer(result.conflictsCreated))
        // Always strings, whatever the source sends (CouchDB's clustered sequences are strings,
        // a local store's and PouchDB's are integers): one shape for scripts.
        object.set("start_seq", .string(result.startSeq.queryValue))
        object.set("last_seq", .string(result.lastSeq.queryValue))
        if !result.failures.isEmpty {
            object.set("failures", .array(result.failures.map { failure in
                var item = JSONObject()
                item.set("id", .string(failure.id))
                if let rev = failure.rev { item.set("rev", .string(rev)) }
                item.set("error", .string(failure.error))
                item.set("reason", .string(failure.reason))
                return .object(item)
            }))
        }
        return .object(object)
    }

    /// `{"pull":{…},"push":{…},"conflicts_resolved":N,"conflicts_unresolved":N,"http_requests":N}`
    /// members for a result; `pull` and `push` are always present, null for a direction that
    /// did not run.
    package static func members(_ result: SyncResult?, dryRun: Bool) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if dryRun { members.append(("dry_run", .bool(true))) }
        members.append(("pull", result?.pull.map(direction) ?? .null))
        members.append(("push", result?.push.map(direction) ?? .null))
        guard let result else { return members }
        members.append(("conflicts_resolved", .integer(result.conflicts.resolved)))
        members.append(("conflicts_unresolved", .integer(result.conflicts.unresolved)))
        members.append(("http_requests", .integer(result.httpRequests)))
        members.append(("bytes_received", .integer(result.httpBytesReceived)))
        members.append(("bytes_sent", .integer(result.httpBytesSent)))
        return members
    }

    /// The result object as JSON text.
    package static func result(_ result: SyncResult, dryRun: Bool) -> String {
        JSONValue.object(JSONObject(members(result, dryRun: dryRun).map { (key: $0.0, value: $0.1) })).serialized
    }

    /// Log metadata for a finished run.
    static func metadata(_ result: SyncResult?) -> Logger.Metadata {
        guard let result else { return [:] }
        var metadata: Logger.Metadata = ["http_requests": "\(result.httpRequests)"]
        if let pull = result.pull { metadata["pulled"] = "\(pull.docsWritten)" }
        if let push = result.push { metadata["pushed"] = "\(push.docsWritten)" }
        if result.conflicts != ConflictCounts() {
            metadata["conflicts_resolved"] = "\(result.conflicts.resolved)"
            metadata["conflicts_unresolved"] = "\(result.conflicts.unresolved)"
        }
        return metadata
    }
}

extension JobRunner.Report {
    /// The `--json` object: `outcome`, `reason` and `reason_code` (unless synced), per direction
    /// counters (`pull`, `push`: null when not run), `tag`, `exit_code`;
    /// for a dry run also `"dry_run": true` and `would_create` (the files a real run would create).
    package var json: JSONValue {
        var object = JSONObject()
        object.set("tag", .string(tag))
        object.set("outcome", .string(outcome.rawValue))
        if let reason { object.set("reason", .string(reason)) }
        if let reasonCode { object.set("reason_code", .string(reasonCode)) }
        object.set("exit_code", .integer(Int(exitCode)))
        if dryRun {
            object.set("dry_run", .bool(true))
            object.set("would_create", .array(wouldCreate.map { .string($0) }))
        }
        for (key, value) in ProgressJSON.members(result, dryRun: false) { object.set(key, value) }
        if !constraints.isEmpty {
            object.set("constraints", .array(constraints.map { verdict in
                var item = JSONObject()
                item.set("constraint", .string(verdict.constraint))
                item.set("satisfied", .bool(verdict.satisfied))
                item.set("measured", .string(verdict.measured))
                item.set("threshold", .string(verdict.threshold))
                return .object(item)
            }))
        }
        object.set("duration_seconds", .number(String(format: "%.3f", duration)))
        if let nextEligible { object.set("next_eligible", .string(ISO8601.format(nextEligible))) }
        return .object(object)
    }
}
