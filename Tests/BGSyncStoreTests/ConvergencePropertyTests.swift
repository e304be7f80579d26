import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

/// What every replica must agree on about a tree: its revisions, their parents, and the
/// leaves in winner order with their deleted flags. (The deleted flag of an interior revision
/// depends on the order revisions arrived in and is never observable: see
/// `RevisionTreeTests.interiorDeletedFlagDependsOnOrder`.)
struct ObservableTree: Equatable, CustomStringConvertible {
    var parents: [RevisionID: String?]
    var leaves: [String]

    init(_ tree: RevisionTree) {
        parents = tree.nodes.mapValues(\.parentHash)
        leaves = tree.leafTexts
    }

    init(union trees: [RevisionTree]) {
        var merged = RevisionTree()
        var deletedLeaves = Set<RevisionID>()
        for tree in trees {
            for leaf in tree.leaves {
                merged.merge(path: tree.ancestry(of: leaf.rev), deleted: false)
                if leaf.deleted { deletedLeaves.insert(leaf.rev) }
            }
        }
        parents = merged.nodes.mapValues(\.parentHash)
        var leafNodes = merged.leaves.map { (rev: $0.rev, deleted: deletedLeaves.contains($0.rev)) }
        leafNodes.sort { a, b in
            if a.deleted != b.deleted { return !a.deleted }
            return b.rev < a.rev
        }
        leaves = leafNodes.map { $0.deleted ? "\($0.rev) deleted" : $0.rev.description }
    }

    var description: String {
        let links = parents.keys.sorted().map { "\($0)←\(parents[$0]!.map { $0 } ?? "root")" }
        return "leaves \(leaves), nodes \(links)"
    }
}

@Suite("Convergence properties")
struct ConvergencePropertyTests {
    // MARK: RevisionTree

    /// A random tree: each revision's parent is fixed, leaves are randomly tombstones. Returns
    /// the merges (paths with the deleted flag of their newest revision) that describe it:
    /// every leaf's full path, plus stemmed and partial paths of it.
    static func randomTreeMerges(_ rng: inout SeededRandom) -> (merges: [([RevisionID], Bool)], leaves: [(RevisionID, Bool)]) {
        var parent: [RevisionID: RevisionID?] = [:]
        var children: [RevisionID: Int] = [:]
        var all: [RevisionID] = []
        func add(_ generation: Int, _ parentRev: RevisionID?) {
            var candidate: RevisionID
            repeat {
                // Short hashes so that equal generations often need the tie-break.
                candidate = try! RevisionID(generation: generation, hash: rng.hex(Int.random(in: 1...3, using: &rng)))
            } while parent[candidate] != nil
            parent[candidate] = parentRev
            all.append(candidate)
            if let parentRev { children[parentRev, default: 0] += 1 }
        }
        for _ in 0..<Int.random(in: 1...2, using: &rng) { add(1, nil) }
        for _ in 0..<Int.random(in: 1...14, using: &rng) {
            let base = all.randomElement(using: &rng)!
            add(base.generation + 1, base)
        }
        func path(_ rev: RevisionID) -> [RevisionID] {
            var result = [rev]
            while let up = parent[result.last!] ?? nil { result.append(up) }
            return result
        }
        let leaves = all.filter { children[$0] == nil }.map { ($0, rng.chance(40)) }
        var merges: [([RevisionID], Bool)] = []
        for (leaf, deleted) in leaves {
            let full = path(leaf)
            merges.append((full, deleted))
            // A stemmed form (newest revisions only) and a repeated one.
            merges.append((Array(full.prefix(Int.random(in: 1...full.count, using: &rng))), deleted))
            if rng.chance(30) { merges.append((full, deleted)) }
        }
        // Histories of interior revisions, as a replica that saw the document earlier sends them.
        for rev in all where children[rev] != nil && rng.chance(50) {
            let full = path(rev)
            merges.append((Array(full.prefix(Int.random(in: 1...full.count, using: &rng))), false))
        }
        return (merges, leaves)
    }

    @Test("random paths merged in any order, repeated or stemmed, give one and the same tree")
    func treeMergeOrder() {
        for seed in UInt64(0)..<500 {
            var rng = SeededRandom(seed: seed)
            let (merges, leaves) = Self.randomTreeMerges(&rng)
            var trees: [RevisionTree] = []
            for _ in 0..<3 {
                var tree = RevisionTree()
                for (path, deleted) in merges.shuffled(using: &rng) { tree.merge(path: path, deleted: deleted) }
                trees.append(tree)
            }
            #expect(trees[0] == trees[1], "seed \(seed)")
            #expect(trees[0] == trees[2], "seed \(seed)")
            // The winner order is CouchDB's: live first, then generation, then hash bytes.
            let expected = leaves.sorted { a, b in
                if a.1 != b.1 { return !a.1 }
                if a.0.generation != b.0.generation { return a.0.generation > b.0.generation }
                return b.0.hash.utf8.lexicographicallyPrecedes(a.0.hash.utf8)
            }.map { $0.1 ? "\($0.0) deleted" : $0.0.description }
            #expect(trees[0].leafTexts == expected, "seed \(seed)")
            // Merging again is idempotent.
            var again = trees[0]
            for (path, deleted) in merges where again.merge(path: path, deleted: deleted).changed {
                Issue.record("seed \(seed): merging \(path) again changed the tree")
            }
            #expect(again == trees[0], "seed \(seed)")
        }
    }

    @Test("merging two trees is commutative and idempotent")
    func treeUnion() {
        for seed in UInt64(1000)..<1300 {
            var rng = SeededRandom(seed: seed)
            let (merges, _) = Self.randomTreeMerges(&rng)
            let split = merges.shuffled(using: &rng)
            let cut = Int.random(in: 0...split.count, using: &rng)
            func build(_ parts: ArraySlice<([RevisionID], Bool)>) -> RevisionTree {
                var tree = RevisionTree()
                for (path, deleted) in parts { tree.merge(path: path, deleted: deleted) }
                return tree
            }
            let left = build(split[..<cut])
            let right = build(split[cut...])
            func merged(_ base: RevisionTree, with other: RevisionTree) -> RevisionTree {
                var result = base
                for leaf in other.leaves { result.merge(path: other.ancestry(of: leaf.rev), deleted: leaf.deleted) }
                return result
            }
            let leftRight = merged(left, with: right)
            let rightLeft = merged(right, with: left)
            #expect(ObservableTree(leftRight) == ObservableTree(rightLeft), "seed \(seed)")
            #expect(ObservableTree(leftRight) == ObservableTree(union: [left, right]), "seed \(seed)")
            #expect(merged(leftRight, with: right) == leftRight, "seed \(seed)")
            #expect(merged(leftRight, with: leftRight) == leftRight, "seed \(seed)")
        }
    }

    // MARK: Stores

    /// Makes `count` random edits in `store` on documents `ids`: creations, updates of any leaf
    /// (also a tombstone), deletions of live leaves, and replicated branches from any revision.
    static func randomEdits(_ store: DocumentStore, ids: [String], count: Int, source: String,
                            rng: inout SeededRandom, context: String) throws {
        for step in 0..<count {
            let id = ids.randomElement(using: &rng)!
            let tree = try store.tree(id)
            // Sometimes a body both replicas could write alike (same edit → same revision id).
            let body = rng.chance(25) ? #""n":\#(step % 3)"# : #""n":\#(step),"by":"\#(source)","x":1.50,"big":12345678901234567890"#
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<3:
                if let winner = tree?.winner, !winner.deleted {
                    if rng.chance(20) {
                        let error = #expect(throws: StoreError.self, "\(context)") { try store.put(id, "{\(body)}") }
                        #expect(error?.code == .conflict, "\(context)")
                    } else {
                        try store.put(id, #"{"_rev":"\#(winner.rev)",\#(body)}"#)
                    }
                } else {
                    try store.put(id, "{\(body)}")  // create, or extend the tombstone
                }
            case 3..<6:
                guard let leaf = tree?.leaves.randomElement(using: &rng) else { continue }
                try store.put(id, #"{"_rev":"\#(leaf.rev)",\#(body)}"#)
            case 6:
                guard let leaf = tree?.leaves.filter({ !$0.deleted }).randomElement(using: &rng) else { continue }
                try store.delete(id, rev: leaf.rev)
            default:
                guard let tree, let base = tree.nodes.keys.sorted().randomElement(using: &rng) else { continue }
                let new = try RevisionID(generation: base.generation + 1, hash: rng.hex(32))
                let history = ([new] + tree.ancestry(of: base)).map(\.description)
                try store.replicate(replicatedJSON(id, history, deleted: rng.chance(25), members: body))
            }
        }
    }

    /// Every leaf of documents `ids` (those the store has), with its full `_revisions`, as
    /// `open_revs=all` gives them.
    static func allLeafRevisions(_ store: DocumentStore, ids: [String]) throws -> [String] {
        try store.read { tx in
            try ids.flatMap { id in
                try tx.openRevisions(id, revs: nil).map { result -> String in
                    guard case .ok(let json) = result else {
                        Issue.record("open_revs=all of \(id) answered \(result)")
                        return "{}"
                    }
                    return json
                }
            }
        }
    }

    /// Those of `ids` that the store has.
    static func existing(_ store: DocumentStore, _ ids: [String]) throws -> [String] {
        try ids.filter { try store.tree($0) != nil }
    }

    /// Everything a client can observe about one document.
    static func observe(_ store: DocumentStore, _ id: String) throws -> [String] {
        guard let tree = try store.tree(id), let winner = tree.winner else { return ["absent"] }
        var seen = [ObservableTree(tree).description]
        if winner.deleted {
            let error = #expect(throws: StoreError.self) { try store.document(id) }
            seen.append("GET: \(error?.reason ?? "no error")")
            seen.append(try store.document(id, DocumentOptions(rev: winner.rev, revs: true)))
        } else {
            seen.append(try store.fullDocument(id))
        }
        for result in try store.openRevisions(id, nil) { seen.append("\(result)") }
        return seen
    }

    /// Everything a client can observe about documents `ids`, and the changes since `since`.
    static func observeAll(_ store: DocumentStore, ids: [String], since: Int) throws -> [String] {
        var seen = try store.changes(since: since).map { "\($0.id) \($0.leaves) \($0.deleted)" }.sorted()
        for id in ids { seen += try observe(store, id) }
        return seen
    }

    @Test("replicas fed the same revisions in different orders, with duplicates, converge")
    func storesConverge() throws {
        try withTemporaryDirectory { dir in
            // Opening a store costs a few fsyncs, so the four stores are opened once and each
            // iteration works on documents of its own ("7/a", "7/b", …): for those documents the
            // replicas x and y are fresh. Documents never interact with each other.
            let a = try dir.openStore("a.sqlite")
            let b = try dir.openStore("b.sqlite")
            let x = try dir.openStore("x.sqlite")
            let y = try dir.openStore("y.sqlite")
            for iteration in 0..<200 {
                let seed = UInt64(iteration) &* 0x2545_F491_4F6C_DD1D
                var rng = SeededRandom(seed: seed)
                let context = "iteration \(iteration), seed \(seed)"
                let ids = ["a", "b", "c", "d"].map { "\(iteration)/\($0)" }
                let since = (x: try x.updateSeq(), y: try y.updateSeq())
                // A common history, copied to b, then divergent edits on both.
                try Self.randomEdits(a, ids: ids, count: 12, source: "a", rng: &rng, context: context)
                try b.write { tx in
                    for json in try Self.allLeafRevisions(a, ids: ids) { try tx.put(json: json, newEdits: false) }
                }
                try Self.randomEdits(a, ids: ids, count: 8, source: "a", rng: &rng, context: context)
                try Self.randomEdits(b, ids: ids, count: 8, source: "b", rng: &rng, context: context)

                let everything = try Self.allLeafRevisions(a, ids: ids) + Self.allLeafRevisions(b, ids: ids)
                for replica in [x, y] {
                    var feed = everything + everything.filter { _ in rng.chance(30) }
                    feed.shuffle(using: &rng)
                    // Random batches, each one transaction.
                    while !feed.isEmpty {
                        let batch = feed.prefix(Int.random(in: 1...5, using: &rng))
                        feed.removeFirst(batch.count)
                        try replica.write { tx in
                            for json in batch { try tx.put(json: json, newEdits: false) }
                        }
                    }
                }
                let seenX = try Self.observeAll(x, ids: ids, since: since.x)
                #expect(seenX == (try Self.observeAll(y, ids: ids, since: since.y)), "\(context)")

                // Each replica holds exactly the union of the sources' trees and their leaves' bodies.
                let docIDs = Set(try Self.existing(a, ids)).union(try Self.existing(b, ids))
                #expect(Set(try Self.existing(x, ids)) == docIDs, "\(context)")
                for id in docIDs {
                    let union = ObservableTree(union: [try a.tree(id), try b.tree(id)].compactMap { $0 })
                    #expect(ObservableTree(try #require(try x.tree(id))) == union, "\(context), document \(id)")
                }
                #expect(Set(try Self.allLeafRevisions(x, ids: ids)).isSubset(of: Set(everything)), "\(context)")

                // Idempotent: feeding everything again writes nothing.
                let seq = try x.updateSeq()
                try x.write { tx in
                    for json in everything.reversed() { try tx.put(json: json, newEdits: false) }
                }
                #expect(try x.updateSeq() == seq, "\(context)")
                #expect(try Self.observeAll(x, ids: ids, since: since.x) == seenX, "\(context)")
            }
            // Store-wide views agree too.
            #expect(try x.conflicts().map(\.text) == (try y.conflicts().map(\.text)))
            #expect(try x.read { try $0.allDocuments(includeDeleted: true) }.map(\.text)
                == (try y.read { try $0.allDocuments(includeDeleted: true) }.map(\.text)))
            let (infoX, infoY) = (try x.info(), try y.info())
            #expect(infoX.documentCount == infoY.documentCount)
            #expect(infoX.deletedDocumentCount == infoY.deletedDocumentCount)
        }
    }
}
