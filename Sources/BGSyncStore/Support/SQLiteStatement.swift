import GRDB
import GRDBSQLite

/// One use of a prepared (cached) GRDB statement through SQLite's C API: binding, stepping and
/// reading columns directly. On the per-document path of a replication, GRDB's generic argument
/// and row machinery costs more than SQLite's own work; the statements stay GRDB's (prepared
/// and cached by it), only their execution is done here.
///
/// Errors are GRDB `DatabaseError`s with SQLite's extended result code, so that
/// ``StoreError/wrapping(_:path:)`` maps them (a full disk, a corrupt file) as for any statement.
struct SQLiteStatement {
    private let handle: OpaquePointer

    /// Resets `statement` and clears its bindings, ready to bind and step.
    init(_ statement: Statement) {
        handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// SQLite copies bound text (its `SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Binds parameters in order (1-based in SQLite): Int, Int64, Bool, String, or nil.
    func bind(_ values: [Value]) {
        for (offset, value) in values.enumerated() { bind(value, at: Int32(offset + 1)) }
    }

    /// Binds `values` and runs the statement to completion, with text read in place while it
    /// runs (`SQLITE_STATIC`): a document body is not copied once more for SQLite.
    func run(binding values: [Value]) throws {
        defer { sqlite3_clear_bindings(handle) }
        try bindInPlace(values[...], at: 1) { try run() }
    }

    private func bindInPlace(_ values: ArraySlice<Value>, at index: Int32, _ body: () throws -> Void) throws {
        guard let value = values.first else { return try body() }
        guard case .text(var text) = value, !text.isEmpty else {
            bind(value, at: index)
            return try bindInPlace(values.dropFirst(), at: index + 1, body)
        }
        try text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                _ = sqlite3_bind_text(handle, index, chars.baseAddress, Int32(chars.count), nil)
            }
            try bindInPlace(values.dropFirst(), at: index + 1, body)
        }
    }

    private func bind(_ value: Value, at index: Int32) {
        switch value {
        case .int(let number): sqlite3_bind_int64(handle, index, number)
        case .text(let text): sqlite3_bind_text(handle, index, text, -1, Self.transient)
        case .null: sqlite3_bind_null(handle, index)
        }
    }

    /// A value to bind.
    enum Value {
        case int(Int64)
        case text(String)
        case null

        static func optional(_ text: String?) -> Value { text.map { .text($0) } ?? .null }
        static func bool(_ flag: Bool) -> Value { .int(flag ? 1 : 0) }
    }

    /// Steps once: true when a row is available, false when the statement is done.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let db = sqlite3_db_handle(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db)),
                                message: sqlite3_errmsg(db).map { String(cString: $0) },
                                sql: sqlite3_sql(handle).map { String(cString: $0) })
        }
    }

    /// Runs a statement that returns no rows (or whose rows are not needed) to completion.
    func run() throws {
        while try step() {}
    }

    /// Whether column `index` (0-based) of the current row is NULL.
    func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    /// Column `index` (0-based) of the current row as an integer.
    func int(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// Column `index` of the current row as its bytes (text as stored, unrepaired), nil for NULL.
    func bytes(_ index: Int32) -> [UInt8]? {
        guard sqlite3_column_type(handle, index) != SQLITE_NULL else { return nil }
        let count = Int(sqlite3_column_bytes(handle, index))
        guard count > 0, let start = sqlite3_column_blob(handle, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// Column `index` of the current row as text, nil for NULL.
    func text(_ index: Int32) -> String? {
        guard sqlite3_column_type(handle, index) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, index) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}
