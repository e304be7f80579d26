import BGSyncTestSupport
import BGSyncReplication
import BGSyncStore
import Foundation
import Logging
import Testing

/// Runs a replication with a conflict resolver.
func sync(_ database: String, _ remote: String, resolver: (any ConflictResolver)?,
          direction: ReplicatorConfiguration.Direction = .pullAndPush) async throws -> SyncResult {
    var configuration = ReplicatorConfiguration(database: database, remote: try Endpoint(parsing: remote), direction: direction)
    configuration.conflictResolver = resolver
    configuration.maxDelete = nil
    configuration.createTarget = true  // a file remote made on first use
    let replicator = Replicator(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await replicator.runOnDedicatedThreads()
}

/// A leaf for resolver unit tests: `history` newest first.
func leaf(_ history: [String], deleted: Bool = false, body: String = "{}") throws -> ConflictLeaf {
    let path = try history.map { try RevisionID(parsing: $0) }
    return ConflictLeaf(rev: path[0], deleted: deleted, body: body, history: path)
}

extension DocumentStore {
    /// The conflicting leaves of `id` (empty when it is not in conflict).
    func conflictingLeaves(_ id: String) throws -> [RevisionID] {
        try read { try $0.conflict(of: id)?.leaves.map(\.rev) } ?? []
    }

    /// Every document's tree (nodes, parents, leaves with deleted flags) as text.
    func trees() throws -> [String: String] {
        try read { tx in
            var result: [String: String] = [:]
            for doc in try tx.allDocuments(includeDeleted: true) {
                guard let tree = try tx.tree(of: doc.id) else { continue }
                let nodes = tree.nodes.keys.sorted().map { "\($0)<\(tree.nodes[$0]?.parentHash ?? "-")" }
                result[doc.id] = nodes.joined(separator: " ") + " | " + tree.leaves.map { "\($0.rev)\($0.deleted ? "d" : "")" }.joined(separator: ",")
            }
            return result
        }
    }
}

/// Throws for documents whose id starts with "bad", keeps the winner otherwise.
struct PickyResolver: ConflictResolver {
    struct Refusal: Error {}
    let name = "picky"
    func resolve(_ conflict: Conflict) async throws -> ConflictResolution {
        if conflict.id.hasPrefix("bad") { throw Refusal() }
        return .keep(conflict.winner.rev)
    }
}

@Suite("Conflict resolvers")
struct ConflictResolutionTests {
    @Test("deterministic: a deletion beats an edit of the same revision, then the longer history, then the greater revision id")
    func deterministicRule() throws {
        let choose = { (leaves: [ConflictLeaf]) in BuiltInConflictResolver.deterministic.choose(Conflict(id: "d", leaves: leaves)) }
        #expect(choose([try leaf(["2-b", "1-a"]), try leaf(["2-d", "1-a"], deleted: true)]).description == "2-d")
        #expect(choose([try leaf(["3-c", "2-x", "1-a"]), try leaf(["2-d", "1-a"], deleted: true)]).description == "3-c")
        #expect(choose([try leaf(["3-c", "2-x", "1-a"]), try leaf(["2-z", "1-a"])]).description == "3-c")
        #expect(choose([try leaf(["2-z", "1-a"]), try leaf(["2-y", "1-a"])]).description == "2-z")
        // The deletion only beats its sibling: another live leaf stands.
        #expect(choose([try leaf(["3-c", "2-x", "1-a"]), try leaf(["3-e", "2-y", "1-a"]), try leaf(["3-d", "2-y", "1-a"], deleted: true)]).description == "3-c")
        #expect(choose([try leaf(["1-b"]), try leaf(["1-a"], deleted: true)]).description == "1-a")
    }

    @Test("remote-wins and local-wins pick by origin; with both leaves on one side, the winner")
    func sides() throws {
        let leaves = [try leaf(["2-b", "1-a"]), try leaf(["2-a", "1-a"])]
        let conflict = Conflict(id: "d", leaves: leaves, remoteRevisions: [try RevisionID(parsing: "2-a")])
        #expect(BuiltInConflictResolver.remoteWins.choose(conflict).description == "2-a")
        #expect(BuiltInConflictResolver.localWins.choose(conflict).description == "2-b")
        let both = Conflict(id: "d", leaves: leaves, remoteRevisions: Set(leaves.map(\.rev)))
        #expect(BuiltInConflictResolver.localWins.choose(both).description == "2-b")
        #expect(BuiltInConflictResolver.remoteWins.choose(Conflict(id: "d", leaves: leaves, remoteRevisions: [])).description == "2-b")
    }

    /// Local and remote stores where `doc` was edited on both sides (plus a deletion against
    /// an edit, and an attachment), returning the local and remote revisions of each.
    static func divergent(_ dir: String) async throws -> (local: DocumentStore, remote: DocumentStore, localRev: String, remoteRev: String) {
        let local = try DocumentStore.open(at: dir + "/local.sqlite")
        let remote = try DocumentStore.open(at: dir + "/remote.sqlite")
        let base = try remote.put("doc", #"{"v":0,"_attachments":{"a.txt":{"content_type":"text/plain","data":"aGk="}}}"#)
        let gone = try remote.put("gone", #"{"v":0}"#)
        _ = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: nil)
        let localRev = try local.put("doc", #"{"_rev":"\#(base)","v":"local","_attachments":{"a.txt":{"stub":true}}}"#)
        var remoteRev = try remote.put("doc", #"{"_rev":"\#(base)","v":"remote"}"#)
        remoteRev = try remote.put("doc", #"{"_rev":"\#(remoteRev)","v":"remote again"}"#)
        try local.write { _ = try $0.delete(id: "gone") }
        try remote.put("gone", #"{"_rev":"\#(gone)","v":"edited"}"#)
        return (local, remote, localRev, remoteRev)
    }

    @Test("each built-in resolver leaves both sides with the same tree and no conflict after one run", arguments: BuiltInConflictResolver.Rule.allCases)
    func oneRun(rule: BuiltInConflictResolver.Rule) async throws {
        try await withTemporaryPath { dir in
            let (local, remote, localRev, remoteRev) = try await Self.divergent(dir)
            let result = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: BuiltInConflictResolver(rule))
            #expect(result.conflicts.resolved == 2 && result.conflicts.unresolved == 0)
            for store in [local, remote] {
                #expect(try store.conflictingLeaves("doc").isEmpty)
                #expect(try store.conflictingLeaves("gone").isEmpty)
            }
            #expect(try local.trees() == remote.trees())
            let winner = try local.read { try $0.tree(of: "doc")?.winner?.rev.description }
            let gone = try local.read { try $0.tree(of: "gone")?.winner }
            switch rule {
            case .remoteWins, .deterministic:
                // The remote's edit has the longer history; for "gone", remote-wins keeps the
                // remote's edit (on a new revision), deterministic the local deletion.
                #expect(winner == remoteRev)
                #expect(gone?.deleted == (rule == .deterministic))
            case .localWins:
                #expect(winner == localRev)
                #expect(try local.read { try $0.document("doc") }.contains(#""a.txt""#))
                #expect(gone?.deleted == true)
            }
            // A second run finds nothing to do.
            let again = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: BuiltInConflictResolver(rule))
            #expect(again.conflicts == ConflictCounts())
            #expect(again.pull?.docsWritten == 0 && again.push?.docsWritten == 0)
        }
    }

    @Test("a failing resolver leaves that document in conflict, resolves the others, and is asked again next run")
    func failureContained() async throws {
        try await withTemporaryPath { dir in
            let local = try DocumentStore.open(at: dir + "/local.sqlite")
            for id in ["bad", "good1", "good2"] {
                try local.write { tx in
                    try tx.put(json: #"{"_id":"\#(id)","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","root"]}}"#, newEdits: false)
                    try tx.put(json: #"{"_id":"\#(id)","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","root"]}}"#, newEdits: false)
                }
            }
            let first = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: PickyResolver())
            #expect(first.conflicts.resolved == 2 && first.conflicts.unresolved == 1)
            #expect(try local.conflictingLeaves("bad").count == 2)
            #expect(try local.conflictingLeaves("good1").isEmpty)
            let second = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: PickyResolver())
            #expect(second.conflicts.unresolved == 1 && second.conflicts.resolved == 0)
            let fixed = try await sync(dir + "/local.sqlite", dir + "/remote.sqlite", resolver: BuiltInConflictResolver.deterministic)
            #expect(fixed.conflicts.resolved == 1)
        }
    }

    @Test("two devices and a server converge to one winner and no conflicts after a round of runs")
    func threeReplicas() async throws {
        try await withTemporaryPath { dir in
            let server = dir + "/server.sqlite", deviceA = dir + "/a.sqlite", deviceB = dir + "/b.sqlite"
            let s = try DocumentStore.open(at: server)
            let base = try s.put("note", #"{"text":"base"}"#)
            for device in [deviceA, deviceB] { _ = try await sync(device, server, resolver: BuiltInConflictResolver.deterministic) }
            let (a, b) = (try DocumentStore.open(at: deviceA), try DocumentStore.open(at: deviceB))
            try a.put("note", #"{"_rev":"\#(base)","text":"from a"}"#)
            try b.put("note", #"{"_rev":"\#(base)","text":"from b"}"#)
            try s.put("note", #"{"_rev":"\#(base)","text":"on the server"}"#)
            // One round: each device runs once, then A again to learn B's resolution.
            for device in [deviceA, deviceB, deviceA] {
                _ = try await sync(device, server, resolver: BuiltInConflictResolver.deterministic)
            }
            #expect(try a.trees() == s.trees())
            #expect(try b.trees() == s.trees())
            for store in [a, b, s] { #expect(try store.conflictingLeaves("note").isEmpty) }
        }
    }
}
