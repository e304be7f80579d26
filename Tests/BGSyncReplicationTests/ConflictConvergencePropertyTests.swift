import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Any sequence of edits on two devices and a server, with sync rounds between them, ends —
/// once every device has synced until nothing moves — with identical trees everywhere and no
/// document in conflict, when every device uses the deterministic resolver.
///
/// Each iteration's seed is derived from a base seed, printed at the start; `BGSYNC_SEED=N`
/// repeats a run, `BGSYNC_FUZZ_ITERATIONS=N` runs longer.
@Suite("Conflict resolution convergence (property)")
struct ConflictConvergencePropertyTests {
    static let ids = ["d0", "d1", "d2"]

    /// One random edit of one document on `store`: create (or re-create), edit a random live
    /// leaf (a loser too, growing branches), or delete a random live leaf.
    static func randomEdit(_ store: DocumentStore, _ rng: inout SeededRandom) throws {
        let id = rng.pick(ids)
        let body = "\"n\":\(Int.random(in: 0..<4, using: &rng))"
        let tree = try store.read { try $0.tree(of: id) }
        let live = tree?.leaves.filter { !$0.deleted }.map(\.rev) ?? []
        if live.isEmpty {
            try store.write { _ = try $0.put(id: id, json: "{\(body)}") }
        } else if rng.chance(25) {
            let target = rng.pick(live)
            try store.write { _ = try $0.delete(id: id, rev: target) }
        } else {
            let target = rng.pick(live)
            try store.write { _ = try $0.put(id: id, json: "{\"_rev\":\"\(target)\",\(body)}") }
        }
    }

    @Test("edits on N replicas plus sync rounds with the deterministic resolver end identical and without conflicts")
    func converges() async throws {
        let base = SeededRandom.seed(for: "conflict convergence (base seed)")
        let iterations = HostileInput.iterations(default: 20)
        print("conflict convergence: \(iterations) iterations")
        var resolved = 0
        for iteration in 0..<iterations {
            let seed = base &+ UInt64(iteration)
            var rng = SeededRandom(seed: seed)
            try await withTemporaryPath { dir in
                let paths = ["a", "b", "server"].map { dir + "/\($0).sqlite" }
                let stores = try paths.map { try DocumentStore.open(at: $0) }
                let resolver = BuiltInConflictResolver.deterministic
                for _ in 0..<Int.random(in: 8...16, using: &rng) {
                    let replica = Int.random(in: 0..<3, using: &rng)
                    if replica < 2 && rng.chance(40) {
                        resolved += try await sync(paths[replica], paths[2], resolver: resolver).conflicts.resolved
                    } else {
                        try Self.randomEdit(stores[replica], &rng)
                    }
                }
                // Rounds until a whole round moves nothing.
                var rounds = 0
                var moved = true
                while moved && rounds < 8 {
                    moved = false
                    rounds += 1
                    for device in 0..<2 {
                        let result = try await sync(paths[device], paths[2], resolver: resolver)
                        resolved += result.conflicts.resolved
                        if (result.pull?.docsWritten ?? 0) + (result.push?.docsWritten ?? 0) + result.conflicts.resolved > 0 { moved = true }
                    }
                }
                let context = "seed \(seed) (BGSYNC_SEED=\(base), iteration \(iteration)), \(rounds) rounds"
                #expect(!moved, "still moving after 8 rounds: \(context)")
                let trees = try stores.map { try $0.trees() }
                #expect(trees[0] == trees[2], "\(context)")
                #expect(trees[1] == trees[2], "\(context)")
                for (index, store) in stores.enumerated() {
                    for id in Self.ids {
                        #expect(try store.conflictingLeaves(id).isEmpty, "replica \(index), \(id): \(context)")
                    }
                }
            }
        }
        print("conflict convergence: \(resolved) conflicts resolved in \(iterations) iterations")
        #expect(resolved > 0, "the edits made no conflict to resolve (base seed \(base))")
    }
}
