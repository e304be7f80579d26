import BGSyncTestSupport
import BGSyncStore
import Testing

/// `RevisionTree` as a value: merging `_revisions` paths, leaves, winners, ancestry, stemming
/// (CouchDB's `couch_key_tree`).
@Suite("Revision trees")
struct RevisionTreeTests {
    /// A tree built by merging `paths` (each newest first), the first element of each path
    /// being a tombstone when `deleted` says so.
    static func tree(_ paths: [[String]], deleted: Set<String> = []) -> RevisionTree {
        var tree = RevisionTree()
        for path in paths { tree.merge(path: path.map(rev), deleted: deleted.contains(path[0])) }
        return tree
    }

    static func leaves(_ tree: RevisionTree) -> [String] { tree.leaves.map(\.rev.description) }

    @Test("two branches from a common ancestor are a conflict: both are leaves")
    func conflictFromTwoBranches() {
        let tree = Self.tree([["2-aaaa", "1-1111"], ["2-bbbb", "1-1111"]])
        #expect(Self.leaves(tree) == ["2-bbbb", "2-aaaa"])
        #expect(tree.winner?.rev == rev("2-bbbb"))
        #expect(tree.nodes.count == 3)
        #expect(tree.roots == [rev("1-1111")])
        #expect(tree.parent(of: rev("2-aaaa")) == rev("1-1111"))
        #expect(tree.parent(of: rev("2-bbbb")) == rev("1-1111"))
    }

    @Test("a deleted leaf loses to a live leaf, even one of lower generation")
    func deletedLeafLoses() {
        // The transcript's c1: 2-aaaa live, 3-cccc deleted on top of 2-bbbb.
        let tree = Self.tree([["2-aaaa", "1-1111"], ["3-cccc", "2-bbbb", "1-1111"]], deleted: ["3-cccc"])
        #expect(tree.winner?.text == "2-aaaa")
        #expect(tree.leafTexts == ["2-aaaa", "3-cccc deleted"])
        let far = Self.tree([["1-zzzz"], ["9-aaaa", "8-aaaa"]], deleted: ["9-aaaa"])
        #expect(far.winner?.rev == rev("1-zzzz"))
    }

    @Test("when every leaf is deleted the winner is the highest deleted leaf")
    func allDeleted() {
        let tree = Self.tree([["2-aaaa", "1-1111"], ["3-cccc", "2-bbbb", "1-1111"]], deleted: ["2-aaaa", "3-cccc"])
        #expect(tree.winner?.text == "3-cccc deleted")
    }

    @Test("among live leaves the higher generation wins, whatever the hashes",
          arguments: [("3-aaaa", "2-zzzz"), ("10-a", "9-z"), ("2-0", "1-f")])
    func higherGenerationWins(winner: String, loser: String) {
        let tree = Self.tree([[winner], [loser]])
        #expect(tree.winner?.rev == rev(winner))
    }

    @Test("leaves of equal generation and state are tie-broken by the bytewise greater hash",
          arguments: [
              ("2-bbbb", "2-aaaa"),
              ("2-a", "2-B"),   // 'a' 0x61 > 'B' 0x42
              ("2-a", "2-9"),   // hex letters sort after digits
              ("2-b", "2-ab"),  // bytewise, not by length
              ("2-ab", "2-a"),  // a prefix sorts first
              ("2-f0000000000000000000000000000000", "2-e9999999999999999999999999999999"),
          ])
    func tieBreakByHash(winner: String, loser: String) {
        for order in [[winner, loser], [loser, winner]] {
            let live = Self.tree(order.map { [$0, "1-root"] })
            #expect(live.winner?.rev == rev(winner))
            let dead = Self.tree(order.map { [$0, "1-root"] }, deleted: Set(order))
            #expect(dead.winner?.rev == rev(winner))
        }
    }

    @Test("merging a path the tree holds changes nothing")
    func mergeIsIdempotent() {
        var tree = Self.tree([["3-cccc", "2-bbbb", "1-1111"], ["2-aaaa", "1-1111"]])
        let before = tree
        #expect(!tree.merge(path: revs("3-cccc", "2-bbbb", "1-1111"), deleted: false).changed)
        #expect(!tree.merge(path: revs("2-bbbb", "1-1111"), deleted: false).changed)
        #expect(!tree.merge(path: revs("1-1111"), deleted: false).changed)
        #expect(!tree.merge(path: revs("3-cccc", "2-bbbb"), deleted: false).changed)
        #expect(tree == before)
    }

    @Test("merge reports the revisions it added")
    func mergeResult() {
        var tree = Self.tree([["2-bbbb", "1-1111"]])
        let result = tree.merge(path: revs("4-dddd", "3-cccc", "2-bbbb", "1-1111"), deleted: false)
        #expect(result.added == revs("4-dddd", "3-cccc"))
        #expect(result.reparented.isEmpty)
        #expect(Self.leaves(tree) == ["4-dddd"])
    }

    @Test("a path that overlaps no branch becomes another root")
    func disjointPathIsAnotherRoot() {
        var tree = Self.tree([["3-cccc", "2-bbbb", "1-1111"]])
        tree.merge(path: revs("5-eeee", "4-dddd"), deleted: false)
        #expect(tree.roots == Set(revs("1-1111", "4-dddd")))
        #expect(Self.leaves(tree) == ["5-eeee", "3-cccc"])
        #expect(tree.ancestry(of: rev("5-eeee")) == revs("5-eeee", "4-dddd"))
        // An unrelated history of the same generations is another root too.
        tree.merge(path: revs("2-zzzz", "1-9999"), deleted: false)
        #expect(tree.roots == Set(revs("1-1111", "4-dddd", "1-9999")))
        #expect(Self.leaves(tree) == ["5-eeee", "3-cccc", "2-zzzz"])
    }

    @Test("a stemmed path whose oldest revision is in the tree extends that branch")
    func stemmedPathGrafts() {
        var tree = Self.tree([["3-cccc", "2-bbbb", "1-1111"]])
        tree.merge(path: revs("5-eeee", "4-dddd", "3-cccc"), deleted: false)
        #expect(tree.roots == [rev("1-1111")])
        #expect(Self.leaves(tree) == ["5-eeee"])
        #expect(tree.ancestry(of: rev("5-eeee")) == revs("5-eeee", "4-dddd", "3-cccc", "2-bbbb", "1-1111"))
    }

    @Test("a root gains its parent when a longer history arrives, in either order")
    func reparenting() {
        var partialFirst = Self.tree([["3-cccc", "2-bbbb"]])
        #expect(partialFirst.roots == [rev("2-bbbb")])
        let result = partialFirst.merge(path: revs("3-cccc", "2-bbbb", "1-1111"), deleted: false)
        #expect(result.added == [rev("1-1111")])
        #expect(result.reparented == [rev("2-bbbb")])
        let fullFirst = Self.tree([["3-cccc", "2-bbbb", "1-1111"], ["3-cccc", "2-bbbb"]])
        #expect(partialFirst == fullFirst)
        #expect(partialFirst.roots == [rev("1-1111")])
    }

    @Test("ancestry lists a revision and its known ancestors, newest first, up to a limit")
    func ancestry() {
        let tree = Self.tree([["4-dddd", "3-cccc", "2-bbbb", "1-1111"], ["2-aaaa", "1-1111"]])
        #expect(tree.ancestry(of: rev("4-dddd")) == revs("4-dddd", "3-cccc", "2-bbbb", "1-1111"))
        #expect(tree.ancestry(of: rev("4-dddd"), limit: 2) == revs("4-dddd", "3-cccc"))
        #expect(tree.ancestry(of: rev("2-aaaa")) == revs("2-aaaa", "1-1111"))
        #expect(tree.ancestry(of: rev("9-none")).isEmpty)
    }

    @Test("only a path's newest revision takes its deleted flag; ancestors count as live")
    func deletedFlagOnlyOnNewest() {
        let tree = Self.tree([["3-cccc", "2-bbbb", "1-1111"]], deleted: ["3-cccc"])
        #expect(tree.nodes[rev("3-cccc")]?.deleted == true)
        #expect(tree.nodes[rev("2-bbbb")]?.deleted == false)
        #expect(tree.nodes[rev("1-1111")]?.deleted == false)
    }

    @Test("stemming keeps revs_limit revisions on each leaf's path")
    func stemLinear() {
        var tree = Self.tree([["6-f", "5-e", "4-d", "3-c", "2-b", "1-a"]])
        let removed = tree.stem(limit: 3)
        #expect(Set(removed) == Set(revs("3-c", "2-b", "1-a")))
        #expect(Set(tree.nodes.keys) == Set(revs("6-f", "5-e", "4-d")))
        #expect(tree.roots == [rev("4-d")])
        #expect(tree.nodes[rev("4-d")]?.parentHash == nil)
        #expect(tree.ancestry(of: rev("6-f")) == revs("6-f", "5-e", "4-d"))
        #expect(tree.stem(limit: 3).isEmpty)
    }

    @Test("stemming a branched tree can leave several roots")
    func stemBranched() {
        // 1-a ─ 2-b ─ 3-c ─ 4-d ─ 5-e
        //    └─ 2-x
        var tree = Self.tree([["5-e", "4-d", "3-c", "2-b", "1-a"], ["2-x", "1-a"]])
        let removed = tree.stem(limit: 3)
        #expect(removed == [rev("2-b")])
        #expect(tree.roots == Set(revs("1-a", "3-c")))
        #expect(Self.leaves(tree) == ["5-e", "2-x"])
        #expect(tree.ancestry(of: rev("5-e")) == revs("5-e", "4-d", "3-c"))
        #expect(tree.ancestry(of: rev("2-x")) == revs("2-x", "1-a"))
    }

    @Test("stemming keeps an ancestor that is within revs_limit of any leaf, as CouchDB does")
    func stemKeepsShared() {
        // 1-a ─ 2-b ─ 3-c ─ 4-d
        //          └─ 3-x
        var tree = Self.tree([["4-d", "3-c", "2-b", "1-a"], ["3-x", "2-b", "1-a"]])
        let removed = tree.stem(limit: 2)
        #expect(removed == [rev("1-a")])
        #expect(tree.roots == [rev("2-b")])
        #expect(Self.leaves(tree) == ["4-d", "3-x"])
        // couch_key_tree:stem keeps 2-b for 3-x, and so 4-d's branch still reaches it.
        #expect(tree.ancestry(of: rev("4-d")) == revs("4-d", "3-c", "2-b"))
    }

    @Test("_revisions expands to a path of consecutive generations, newest first")
    func pathFromRevisions() throws {
        #expect(try RevisionTree.path(start: 3, ids: ["cccc", "bbbb", "1111"]) == revs("3-cccc", "2-bbbb", "1-1111"))
        #expect(try RevisionTree.path(start: 7, ids: ["g"]) == revs("7-g"))
        #expect(try RevisionTree.path(start: 5, ids: ["e", "d"]) == revs("5-e", "4-d"))
    }

    @Test("_revisions with start below the number of ids, no ids, or a bad id is refused",
          arguments: [(1, ["a", "b"]), (0, ["a"]), (2, []), (2, ["a", ""]), (2, ["a b"])])
    func badRevisions(start: Int, ids: [String]) {
        let error = #expect(throws: StoreError.self) { try RevisionTree.path(start: start, ids: ids) }
        #expect(error?.code == .invalidRevision)
    }

    @Test("interior revisions count as live, so merge order does not change the tree")
    func interiorRevisionsAreLive() {
        // 2-x arrives first as a deleted leaf, or first as the (live-assumed) parent of 3-y.
        let leafFirst = Self.tree([["2-x", "1-a"], ["3-y", "2-x", "1-a"]], deleted: ["2-x"])
        let pathFirst = Self.tree([["3-y", "2-x", "1-a"], ["2-x", "1-a"]], deleted: ["2-x"])
        // Everything that can be observed agrees …
        #expect(leafFirst.leaves == pathFirst.leaves)
        #expect(Set(leafFirst.nodes.keys) == Set(pathFirst.nodes.keys))
        #expect(leafFirst.nodes.mapValues(\.parentHash) == pathFirst.nodes.mapValues(\.parentHash))
        // … and so do the interior revisions: they count as live whatever the order.
        #expect(leafFirst == pathFirst)
    }
}

/// Trees as the store keeps them: winners, stemming to `revs_limit`, several roots.
@Suite("Revision trees in a store")
struct StoredRevisionTreeTests {
    @Test("stemming to revs_limit shortens _revisions and forgets old revisions")
    func stemmingNormalEdits() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.setRevsLimit(3)
            #expect(try store.info().revsLimit == 3)
            var history = [try store.put("d", #"{"n":1}"#)]
            for n in 2...6 {
                history.append(try store.put("d", #"{"_rev":"\#(history.last!)","n":\#(n)}"#))
            }
            #expect(history.map(\.generation) == [1, 2, 3, 4, 5, 6])
            let json = try store.document("d", DocumentOptions(revs: true))
            let ids = history.reversed().prefix(3).map { "\"\($0.hash)\"" }.joined(separator: ",")
            #expect(json == #"{"_id":"d","_rev":"\#(history[5])","n":6,"_revisions":{"start":6,"ids":[\#(ids)]}}"#)
            let tree = try #require(try store.tree("d"))
            #expect(Set(tree.nodes.keys) == Set(history.suffix(3)))
            #expect(tree.roots == [history[3]])
            // The stemmed revisions are now unknown: missing to _revs_diff and open_revs.
            let diff = try store.read { try $0.revsDiff([("d", Array(history))]) }
            #expect(diff.count == 1)
            #expect(diff.first?.entry.missing == Array(history.prefix(3)))
            #expect(try store.openRevisions("d", [history[0]]) == [.missing(history[0])])
            #expect(throws: StoreError.self) { try store.document("d", DocumentOptions(rev: history[0])) }
        }
    }

    @Test("stemming a branched tree in the store leaves several roots")
    func stemmingBranches() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.setRevsLimit(3)
            try store.replicate(replicatedJSON("d", ["5-e", "4-d", "3-c", "2-b", "1-a"], members: #""v":"main""#))
            var tree = try #require(try store.tree("d"))
            #expect(Set(tree.nodes.keys) == Set(revs("5-e", "4-d", "3-c")))
            // 1-a was stemmed away: the branch from it shares nothing and is another root.
            try store.replicate(replicatedJSON("d", ["2-x", "1-a"], members: #""v":"side""#))
            tree = try #require(try store.tree("d"))
            #expect(tree.roots == Set(revs("3-c", "1-a")))
            #expect(tree.leaves.map(\.rev) == revs("5-e", "2-x"))
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"5-e","v":"main","_revisions":{"start":5,"ids":["e","d","c"]},"_conflicts":["2-x"]}"#)
            // The tree written to SQLite reads back the same after reopening.
            let reopened = try dir.openStore()
            #expect(try reopened.tree("d") == tree)
        }
    }

    @Test("lowering revs_limit applies at a document's next write")
    func lowerLimitLater() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["5-e", "4-d", "3-c", "2-b", "1-a"]))
            try store.replicate(replicatedJSON("d", ["2-x", "1-a"]))
            #expect(try store.tree("d")?.nodes.count == 6)
            try store.setRevsLimit(3)
            #expect(try store.tree("d")?.nodes.count == 6)
            let next = try store.put("d", #"{"_rev":"5-e"}"#)
            let tree = try #require(try store.tree("d"))
            // 6-new, 5-e, 4-d from the main branch; 2-x, 1-a from the other.
            #expect(Set(tree.nodes.keys) == Set([next] + revs("5-e", "4-d", "2-x", "1-a")))
            #expect(tree.roots == Set(revs("4-d", "1-a")))
        }
    }

    @Test("revs_limit must be positive")
    func revsLimitPositive() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            #expect(try store.info().revsLimit == 1000)
            #expect(throws: StoreError.self) { try store.setRevsLimit(0) }
            #expect(try store.info().revsLimit == 1000)
        }
    }

    @Test("the store picks the same winner as the tree value")
    func storeWinner() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"], members: #""v":"a""#))
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-1111"], members: #""v":"b""#))
            #expect(try store.document("d") == #"{"_id":"d","_rev":"2-bbbb","v":"b"}"#)
            try store.replicate(replicatedJSON("d", ["3-0000", "2-aaaa", "1-1111"], deleted: true))
            #expect(try store.document("d") == #"{"_id":"d","_rev":"2-bbbb","v":"b"}"#)
            try store.replicate(replicatedJSON("d", ["4-0000", "3-1111", "2-bbbb", "1-1111"], deleted: true))
            // Every leaf is a tombstone now: the document reads as deleted.
            let error = #expect(throws: StoreError.self) { try store.document("d") }
            #expect(error?.code == .notFound)
            #expect(error?.reason == "deleted")
            #expect(try store.tree("d")?.leafTexts == ["4-0000 deleted", "3-0000 deleted"])
        }
    }
}
