import BGSyncStore
import Foundation
import TOMLKit

/// A parsed TOML file as JSON values (so job files, registries and the JSON that `exec`
/// factories print are validated by the same code), with line numbers for keys.
struct TOMLDocument {
    let path: String
    let root: JSONObject
    private let lines: [Substring]

    /// Reads and parses `path` (`what` names it in messages: "job file", "registry").
    /// - Throws: ``JobError``: `missingFile` or `permission` when the file is missing, a directory
    ///   or not readable; `configuration`, naming the line, for what it holds.
    init(path: String, what: String = "file") throws {
        self.path = path
        try InputFile.checkReadable(path, what: what)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(.permission, "\(path): the \(what) cannot be read")
        }
        let bytes = [UInt8](data)
        // toml++ reads a C string: a NUL would silently end the file there.
        if let nul = bytes.firstIndex(of: 0) {
            throw JobError.config(path, line: Self.line(at: nul, in: bytes), key: nil,
                                  "a NUL byte at byte offset \(nul): a TOML file is UTF-8 text without NUL bytes")
        }
        if let invalid = Self.firstInvalidUTF8(bytes) {
            throw JobError.config(path, line: Self.line(at: invalid, in: bytes), key: nil,
                                  "invalid UTF-8 at byte offset \(invalid) (byte 0x\(String(bytes[invalid], radix: 16, uppercase: true))): a TOML file is UTF-8 text")
        }
        let text = String(decoding: bytes, as: UTF8.self)
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

    /// The offset of the first byte that does not begin a valid UTF-8 sequence, nil when all
    /// of `bytes` is valid UTF-8.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// The 1-based line of the byte at `offset`.
    static func line(at offset: Int, in bytes: [UInt8]) -> Int {
        bytes[..<offset].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
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
