import BGSyncStore
import Foundation
import TOMLKit

/// A parsed TOML file as JSON values (so job files, registries and the JSON that `exec`
/// factories print are validated by the same code), with line numbers for keys.
struct TOMLDocument {
    let path: String
    let root: JSONObject
    private let lines: [Substring]

    /// Reads and parses `path`.
    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(.missingFile, "\(path): no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JobError.config(path, key: nil, "not UTF-8 text")
        }
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        try Self.checkTableHeaders(lines, path: path)
        do {
            root = try Self.convert(try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            throw JobError.config(path, line: error.source.begin.line, key: nil,
                                  "TOML syntax error at column \(error.source.begin.column): \(error.description)")
        } catch let error as NonFiniteNumber {
            throw JobError.config(path, key: error.key, "nan and inf are not accepted; write a finite number")
        }
    }

    /// Refuses a table header whose key does not start with a key character or a quote
    /// (`[ = x]`, `[.a]`, `[` alone): TOMLKit's parser (toml++ 3) only asserts that case —
    /// an abort in debug builds, undefined behaviour in release builds. Lines that continue a
    /// multi-line array (after a line ending in `[` or `,`) are left to the parser.
    static func checkTableHeaders(_ lines: [Substring], path: String) throws {
        var continuing = false
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            defer {
                if !trimmed.isEmpty && !trimmed.hasPrefix("#") { continuing = trimmed.hasSuffix("[") || trimmed.hasSuffix(",") }
            }
            guard !continuing, trimmed.hasPrefix("[") else { continue }
            var rest = trimmed.dropFirst()
            if rest.hasPrefix("[") { rest = rest.dropFirst() }
            rest = rest.drop { $0 == " " || $0 == "\t" }
            let first = rest.unicodeScalars.first
            let acceptable = first.map { scalar in
                CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII || "_-\"']".unicodeScalars.contains(scalar)
            } ?? false
            if !acceptable {
                throw JobError.config(path, line: index + 1, key: nil, "TOML syntax error: a table header needs a name, e.g. [schedule]")
            }
        }
    }

    /// The line that defines `key` inside `[section]` (best effort, for messages).
    func line(of key: String, in section: String? = nil) -> Int? {
        var current: String?
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                current = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                continue
            }
            let sectionMatches = section == nil ? current == nil : (current == section || current?.hasSuffix("." + (section ?? "")) == true)
            guard sectionMatches else { continue }
            let name = trimmed.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces)
            if name == key || name == "\"\(key)\"" { return index + 1 }
        }
        return nil
    }

    /// TOML's `nan` and `inf`, which JSON (and so every consumer of the values) cannot hold.
    struct NonFiniteNumber: Error {
        var key: String
    }

    static func convert(_ table: TOMLTable) throws -> JSONObject {
        var object = JSONObject()
        for key in table.keys.sorted() {
            if let value = table[key] { object.set(key, try convert(value, key: key)) }
        }
        return object
    }

    static func convert(_ value: any TOMLValueConvertible, key: String) throws -> JSONValue {
        switch value.type {
        case .table: return try value.table.map { .object(try convert($0)) } ?? .null
        case .array: return .array(try value.array.map { try $0.map { try convert($0, key: key) } } ?? [])
        case .string: return .string(value.string ?? "")
        case .int: return .number(String(value.int ?? 0))
        case .double:
            let number = value.double ?? 0
            guard number.isFinite else { throw NonFiniteNumber(key: key) }
            return .number(String(number))
        case .bool: return .bool(value.bool ?? false)
        case .date, .time, .dateTime: return .string(value.debugDescription)
        }
    }
}
