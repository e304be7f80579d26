import BGSync

/// A conflict resolver compiled into this build: when two devices changed the same greeting,
/// the merged greeting keeps the winner's other fields, the highest `likes` of the two and
/// every `tags` entry of both. It decides from the conflict alone, so every device that
/// merges the same conflict writes the same revision.
struct GreetingsMerger: ConflictResolver {
    let name = "greetings-merger"

    func resolve(_ conflict: Conflict) async throws -> ConflictResolution {
        let live = conflict.leaves.filter { !$0.deleted }
        guard !live.isEmpty else { return .keep(conflict.winner.rev) }
        let bodies = try live.map { leaf -> JSONObject in
            guard let object = try JSONValue.parse(leaf.body).objectValue else { throw MergeError(id: conflict.id) }
            return object
        }
        var merged = bodies[0]
        let likes = bodies.compactMap { $0["likes"]?.intValue }
        if let most = likes.max() { merged.set("likes", .integer(most)) }
        var tags: [JSONValue] = []
        for body in bodies {
            for tag in body["tags"]?.arrayValue ?? [] where !tags.contains(tag) { tags.append(tag) }
        }
        if !tags.isEmpty { merged.set("tags", .array(tags)) }
        return .merge(body: JSONValue.object(merged).serialized)
    }
}

struct MergeError: Error, CustomStringConvertible {
    let id: String
    var description: String { "document \(id): a greeting that is not a JSON object" }
}
