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
        do {
            root = Self.convert(try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            throw JobError.config(path, line: error.source.begin.line, key: nil,
                                  "TOML syntax error at column \(error.source.begin.column): \(error.description)")
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

    static func convert(_ table: TOMLTable) -> JSONObject {
        var object = JSONObject()
        for key in table.keys.sorted() {
            if let value = table[key] { object.set(key, convert(value)) }
        }
        return object
    }

    static func convert(_ value: any TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table: return value.table.map { .object(convert($0)) } ?? .null
        case .array: return .array(value.array.map { $0.map { convert($0) } } ?? [])
        case .string: return .string(value.string ?? "")
        case .int: return .number(String(value.int ?? 0))
        case .double: return .number(String(value.double ?? 0))
        case .bool: return .bool(value.bool ?? false)
        case .date, .time, .dateTime: return .string(value.debugDescription)
        }
    }
}
