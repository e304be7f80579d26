import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Documents with many leaves or long histories, written without loading their trees
/// (StoreWriter+IncrementalMerge): the same trees, winners and conflicts as merging in memory.
/// Correctness only; the timing is `bgsync-bench --trees`.
@Suite("Large trees")
struct LargeTreeTests {
    static func hash(_ index: Int, _ salt: String = "") -> String {
        MD5.hex(MD5.digest(Array("\(salt)\(index)".utf8)))
    }

    /// CouchDB's order, written out independently of RevisionTree.winsOver.
    static func couchOrder(_ leaves: [(rev: RevisionID, deleted: Bool)]) -> [(rev: RevisionID, deleted: Bool)] {
        leaves.sorted { a, b in
            if a.deleted != b.deleted { return !a.deleted }
            if a.rev.generation != b.rev.generation { return a.rev.generation > b.rev.generation }
            return Array(b.rev.hash.utf8).lexicographicallyPrecedes(Array(a.rev.hash.utf8))
        }
    }

    @Test("2,000 conflicting leaves: the winner, _conflicts, _deleted_conflicts and the changes feed are CouchDB's")
    func manyConflicts() throws {
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        let store = try directory.openStore()
        let root = "1-" + Self.hash(0, "root")
        try store.replicate(replicatedJSON("d", [root]))
        var expected: [(rev: RevisionID, deleted: Bool)] = []
        var created = 0
        try store.write { tx in
            for index in 1...2000 {
                // Generations 2 to 4, every seventh a tombstone, short hashes sometimes so that
                // ties on the generation are decided by the hash bytes.
                let generation = 2 + index % 3
                let leafHash = index % 5 == 0 ? String(Self.hash(index).prefix(3)) + "\(index)" : Self.hash(index)
                var history = ["\(generation)-\(leafHash)"]
                for g in stride(from: generation - 1, through: 2, by: -1) { history.append("\(g)-\(Self.hash(index, "mid\(g)"))") }
                history.append(root)
                let deleted = index % 7 == 0
                let write = try tx.saveReplicated(IncomingDocument(json: Array(replicatedJSON("d", history, deleted: deleted, members: #""n":\#(index)"#).utf8)))
                #expect(write.added)
                if write.createdConflict { created += 1 }
                expected.append((rev(history[0]), deleted))
            }
        }
        // The first live leaf replaced the root (no conflict); every later live one added one.
        #expect(created == expected.count { !$0.deleted } - 1)
        let order = Self.couchOrder(expected)
        let tree = try #require(try store.tree("d"))
        #expect(tree.leaves.map(\RevisionTree.Leaf.rev) == order.map(\.rev))
        #expect(tree.nodes.count == 1 + expected.reduce(0) { $0 + $1.rev.generation - 1 })
        let summary = try #require(try store.read { try $0.conflicts() }.first)
        #expect(summary.winner == order[0].rev)
        #expect(summary.conflicts == order.dropFirst().filter { !$0.deleted }.map(\.rev))
        #expect(summary.deletedConflicts == order.filter(\.deleted).map(\.rev))
        let document = try JSONValue.parse(store.document("d", DocumentOptions(conflicts: true)))
        #expect(document["_rev"]?.stringValue == order[0].rev.description)
        #expect(document["_conflicts"]?.arrayValue?.count == order.count { !$0.deleted } - 1)
        let change = try #require(try store.read { try $0.changes() }.last)
        #expect(change.leaves == order.map(\.rev))
        #expect(try store.read { try $0.allDocuments() }.map(\DocumentSummary.rev) == [order[0].rev])
        #expect(try StoreInvariants.problems(in: store).isEmpty)
    }

    @Test("deleting leaves of a conflicted document moves the winner to the next live leaf, then to the best tombstone")
    func deletingLeaves() throws {
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        let store = try directory.openStore()
        let root = "1-" + Self.hash(0, "root")
        try store.replicate(replicatedJSON("d", [root]))
        var live: [RevisionID] = []
        try store.write { tx in
            for index in 1...300 {
                let leaf = "\(2 + index % 2)-\(Self.hash(index))"
                let history = index % 2 == 1 ? [leaf, "2-" + Self.hash(index, "mid"), root] : [leaf, root]
                try tx.put(json: replicatedJSON("d", history), newEdits: false)
                live.append(rev(leaf))
            }
        }
        var tombstones: [RevisionID] = []
        for step in 0..<300 {
            let ordered = Self.couchOrder(live.map { ($0, false) }).map(\.rev)
            #expect(try store.read { try $0.allDocuments() }.first?.rev == ordered[0], "step \(step)")
            // Alternately delete the winner (the next live leaf takes over) and a loser.
            let target = step % 2 == 0 ? ordered[0] : ordered[ordered.count / 2]
            tombstones.append(try store.delete("d", rev: target))
            live.removeAll { $0 == target }
        }
        #expect(live.isEmpty)
        let all = try store.read { try $0.allDocuments(includeDeleted: true) } as [DocumentSummary]
        let best = Self.couchOrder(tombstones.map { ($0, true) })[0].rev
        #expect(all.map(\.rev) == [best] && all.map(\.deleted) == [true])
        let treeWinner = try store.tree("d")?.winner
        #expect(treeWinner?.rev == best && treeWinner?.deleted == true)
        // A new edit on a tombstone brings the document back as the winner.
        let revived = try store.put("d", #"{"back":true}"#)
        #expect(try store.read { try $0.allDocuments() }.map(\DocumentSummary.rev) == [revived])
        #expect(try StoreInvariants.problems(in: store).isEmpty)
    }

    @Test("a long history is stemmed at revs_limit: by edits, by one long _revisions, and by edits after it")
    func deepHistoryStemmed() throws {
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        let store = try directory.openStore()
        try store.write { try $0.setRevsLimit(50) }
        var current = try store.put("edits", #"{"n":0}"#)
        for n in 1..<120 { current = try store.put("edits", #"{"_rev":"\#(current)","n":\#(n)}"#) }
        var tree = try #require(try store.tree("edits"))
        #expect(current.generation == 120)
        #expect(tree.nodes.count == 50)
        #expect(tree.ancestry(of: current).count == 50)
        #expect(tree.nodes.filter { $0.value.parentHash == nil }.map(\.key.generation) == [71])

        // One replicated write of 120 revisions keeps the newest 50.
        let history = (1...120).reversed().map { "\($0)-\(Self.hash($0, "long"))" }
        try store.replicate(replicatedJSON("long", history))
        tree = try #require(try store.tree("long"))
        #expect(tree.nodes.count == 50)
        #expect(tree.ancestry(of: rev(history[0])) == history.prefix(50).map(rev))
        #expect(tree.parent(of: rev(history[49])) == nil)

        // Default limit: 1,000 revisions in one write, then edits move the window.
        try store.write { try $0.setRevsLimit(1000) }
        let thousand = (1...1000).reversed().map { "\($0)-\(Self.hash($0, "k"))" }
        try store.replicate(replicatedJSON("k", thousand))
        #expect(try store.tree("k")?.nodes.count == 1000)
        current = rev(thousand[0])
        for n in 0..<5 { current = try store.put("k", #"{"_rev":"\#(current)","n":\#(n)}"#) }
        tree = try #require(try store.tree("k"))
        #expect(tree.nodes.count == 1000)
        #expect(tree.nodes.keys.map(\.generation).min() == 6)
        #expect(tree.ancestry(of: current).count == 1000)
        let document = try JSONValue.parse(store.document("k", DocumentOptions(revs: true)))
        #expect(document["_revisions"]?["ids"]?.arrayValue?.count == 1000)
        #expect(try StoreInvariants.problems(in: store).isEmpty)
    }

    @Test("a lowered revs_limit stems every branch of a conflicted document at its next write")
    func loweredLimitStemsEveryBranch() throws {
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        let store = try directory.openStore()
        let trunk = (1...30).reversed().map { "\($0)-\(Self.hash($0, "trunk"))" }
        try store.replicate(replicatedJSON("d", trunk))
        let branch = ["31-" + Self.hash(31, "branch"), trunk[0]]
        try store.replicate(replicatedJSON("d", branch))
        let other = (21...40).reversed().map { "\($0)-\(Self.hash($0, "other"))" } + Array(trunk.suffix(20))
        try store.replicate(replicatedJSON("d", other))
        try store.write { try $0.setRevsLimit(5) }
        try store.replicate(replicatedJSON("d", ["32-" + Self.hash(32, "branch"), branch[0]]))
        var reference = RevisionTree()
        reference.merge(path: trunk.map(rev), deleted: false)
        reference.merge(path: branch.map(rev), deleted: false)
        reference.merge(path: other.map(rev), deleted: false)
        reference.merge(path: revs("32-" + Self.hash(32, "branch"), branch[0]), deleted: false)
        reference.stem(limit: 5)
        let tree = try #require(try store.tree("d"))
        #expect(ObservableTree(tree) == ObservableTree(reference))
        #expect(tree.nodes.count == 10)
    }

    // MARK: Against the in-memory algorithm

    /// The seed of ``randomWritesMatchInMemoryMerge()``: `BGSYNC_SEED` when set, else a fixed
    /// one, printed either way so that a failure can be replayed.
    static var propertySeed: UInt64 {
        SeededRandom.seed(for: "LargeTreeTests.randomWritesMatchInMemoryMerge", fixed: 0x7EE5_2026)
    }

    @Test("random writes give the tree, winner, leaf order and conflict counts of merging and stemming in memory")
    func randomWritesMatchInMemoryMerge() throws {
        let seed = Self.propertySeed
        var rng = SeededRandom(seed: seed)
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        for round in 0..<40 {
            let context = "seed \(seed), round \(round)"
            let store = try directory.openStore("round-\(round).sqlite")
            let limit = [2, 3, 4, 6, 1000].randomElement(using: &rng)!
            try store.write { try $0.setRevsLimit(limit) }
            // A universe of revisions (a random forest) that replicated writes take paths of.
            var parent: [RevisionID: RevisionID] = [:]
            var universe: [RevisionID] = []
            for _ in 0..<Int.random(in: 1...2, using: &rng) {
                universe.append(try RevisionID(generation: Int.random(in: 1...3, using: &rng), hash: rng.hex(Int.random(in: 1...2, using: &rng))))
            }
            for _ in 0..<Int.random(in: 5...40, using: &rng) {
                let base = universe.randomElement(using: &rng)!
                var child: RevisionID
                repeat {
                    child = try RevisionID(generation: base.generation + 1, hash: rng.hex(Int.random(in: 1...2, using: &rng)))
                } while universe.contains(child)
                parent[child] = base
                universe.append(child)
            }
            func history(_ rev: RevisionID) -> [RevisionID] {
                var path = [rev]
                while let up = parent[path.last!] { path.append(up) }
                return path
            }
            var reference = RevisionTree()
            for step in 0..<Int.random(in: 5...60, using: &rng) {
                let stepContext = "\(context), step \(step), revs_limit \(limit)"
                let before = reference
                let liveBefore = before.leaves.count { !$0.deleted }
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<5:
                    // A replicated path: a revision's history, perhaps cut short (stemmed on the
                    // sender), perhaps a tombstone.
                    let full = history(universe.randomElement(using: &rng)!)
                    let path = Array(full.prefix(Int.random(in: 1...full.count, using: &rng)))
                    let deleted = rng.chance(25)
                    let json = replicatedJSON("d", path.map(\.description), deleted: deleted)
                    let write = try store.write { try $0.saveReplicated(IncomingDocument(json: Array(json.utf8))) }
                    if reference.contains(path[0]) {
                        #expect(!write.added, "\(stepContext): \(path[0]) was stored already")
                    } else {
                        reference.merge(path: path, deleted: deleted)
                        reference.stem(limit: limit)
                        let liveAfter = reference.leaves.count { !$0.deleted }
                        #expect(write.added, "\(stepContext)")
                        #expect(write.createdConflict == (liveAfter > 1 && liveAfter > liveBefore), "\(stepContext): createdConflict")
                    }
                case 5..<8:
                    // A normal edit of a random leaf, or a creation / recreation.
                    let base = rng.chance(80) ? reference.leaves.randomElement(using: &rng) : nil
                    let deleted = rng.chance(30)
                    let body = #"{"n":\#(step)\#(deleted ? #","_deleted":true"# : "")\#(base.map { #","_rev":"\#($0.rev)""# } ?? "")}"#
                    let winner = reference.winner
                    if base == nil, let winner, !winner.deleted {
                        #expect(throws: StoreError.self, "\(stepContext)") { try store.put("d", body) }
                        continue
                    }
                    let parentRev = base?.rev ?? winner?.rev
                    let new = try store.put("d", body)
                    #expect(new.generation == (parentRev?.generation ?? 0) + 1, "\(stepContext)")
                    reference.merge(path: [new] + (parentRev.map { [$0] } ?? []), deleted: deleted)
                    reference.stem(limit: limit)
                default:
                    // Deleting a random live leaf.
                    guard let leaf = reference.leaves.filter({ !$0.deleted }).randomElement(using: &rng) else { continue }
                    let tombstone = try store.delete("d", rev: leaf.rev)
                    reference.merge(path: [tombstone, leaf.rev], deleted: true)
                    reference.stem(limit: limit)
                }
                let stored = try #require(try store.tree("d"), "\(stepContext)")
                #expect(ObservableTree(stored) == ObservableTree(reference), "\(stepContext)")
                let listed = try store.read { try $0.allDocuments(includeDeleted: true) } as [DocumentSummary]
                #expect(listed.map(\.rev) == [reference.winner!.rev], "\(stepContext): docs.winner")
                #expect(listed.map(\.deleted) == [reference.winner!.deleted], "\(stepContext): docs.winner deleted")
                #expect(try store.read { try $0.changes() }.last?.leaves == reference.leaves.map(\.rev), "\(stepContext): changes")
            }
            #expect(try StoreInvariants.problems(in: store).isEmpty, "\(context)")
        }
    }
}
