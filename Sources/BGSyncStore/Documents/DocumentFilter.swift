import GRDB

extension StoreReader {
    /// The ids among `ids` whose row in the `documents` view satisfies an SQL expression over
    /// its columns (`id`, `rev`, `deleted`, `body`), e.g. `json_extract(body, '$.type') = 'note'`.
    ///
    /// - Throws: ``StoreError`` (`bad_request`) when the expression is not valid SQL.
    public func documentIDs(among ids: [String], matching expression: String) throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        var matching = Set<String>()
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            let sql = "SELECT id FROM documents WHERE id IN (\(placeholders)) AND (\(expression))"
            do {
                for id in try String.fetchAll(db, sql: sql, arguments: StatementArguments(chunk)) { matching.insert(id) }
            } catch let error as DatabaseError {
                throw StoreError(.invalidDocument, "push filter \"\(expression)\" is not a valid SQL expression over documents(id, rev, deleted, body): \(error.message ?? "\(error)")")
            }
        }
        return matching
    }
}
