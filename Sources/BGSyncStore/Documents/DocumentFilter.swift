import GRDB

extension StoreReader {
    /// The ids among `ids` whose row in the `documents` view satisfies an SQL expression over
    /// its columns (`id`, `rev`, `deleted`, `body`), e.g. `json_extract(body, '$.type') = 'note'`.
    ///
    /// - Throws: ``StoreError`` (`bad_request`) when the expression is not valid SQL.
    package func documentIDs(among ids: [String], matching expression: String) throws -> Set<String> {
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

/// Push filters checked before any run uses them.
package enum DocumentFilter {
    /// Checks that `expression` is one valid SQL expression over the `documents` view's columns
    /// (`id`, `rev`, `deleted`, `body`), by preparing the query that a push would run on an
    /// empty in-memory database of the current schema: nothing on disk is read or written.
    ///
    /// - Throws: ``StoreError`` (`bad_request`) with SQLite's message when it is not.
    package static func validate(sqlWhere expression: String) throws {
        do {
            let queue = try DatabaseQueue()
            try queue.writeWithoutTransaction { db in
                try SchemaMigrator.migrate(db, path: ":memory:")
                _ = try db.makeStatement(sql: "SELECT id FROM documents WHERE id IN (?) AND (\(expression))")
            }
        } catch let error as DatabaseError {
            throw StoreError(.invalidDocument, "\"\(expression)\" is not a valid SQL expression over documents(id, rev, deleted, body): \(error.message ?? "\(error)")")
        }
    }
}
