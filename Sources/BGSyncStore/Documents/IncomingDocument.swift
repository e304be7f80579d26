import Foundation

/// A document as it arrives from a writer: a JSON object whose `_`-prefixed members are
/// CouchDB metadata and whose other members are the body, kept as raw text (never re-encoded).
///
/// This is the input of ``StoreWriter/save(_:newEdits:)``: what `PUT /db/id` or one element of
/// `_bulk_docs` carries.
package struct IncomingDocument: Sendable {
    /// `_id`, if the JSON names one.
    package var id: String?
    /// `_rev`: the base revision for a normal edit, the revision itself for a replicated one.
    package var rev: RevisionID?
    /// `_revisions`, expanded to a path (newest first), if present.
    package var revisions: [RevisionID]?
    /// `_deleted: true`.
    package var deleted: Bool
    /// The body: a JSON object of the non-metadata members, as raw text.
    package var body: String
    /// `_attachments`, if present (an empty array when the object is empty).
    package var attachments: [IncomingAttachment]?

    /// Creates a document from parts.
    package init(id: String? = nil, rev: RevisionID? = nil, revisions: [RevisionID]? = nil, deleted: Bool = false,
                body: String = "{}", attachments: [IncomingAttachment]? = nil) {
        self.id = id
        self.rev = rev
        self.revisions = revisions
        self.deleted = deleted
        self.body = body
        self.attachments = attachments
    }

    /// Metadata members CouchDB accepts on write and ignores.
    static let ignoredMembers: Set<String> = ["_conflicts", "_deleted_conflicts", "_revs_info", "_local_seq"]

    /// Parses one JSON object (the whole of `bytes`, or `range` of it).
    /// - Throws: ``StoreError`` (`bad_request`) naming the member at fault.
    package init(json bytes: [UInt8], range: Range<Int>? = nil) throws {
        let members: [RawJSONMember]
        do {
            members = try RawJSONObject.members(ofObject: bytes, in: range)
        } catch {
            throw StoreError.invalidDocument(nil, "the body is not a JSON object: \(error)")
        }
        self.init()
        // The body's members are kept as raw text, with the separators between them: runs of
        // consecutive body members are copied whole (a body the way a store or CouchDB sends
        // it is one run), so the body arrives byte for byte as it was stored.
        var runs: [Range<Int>] = []
        var inRun = false
        var revText: String?
        for member in members {
            guard member.key.hasPrefix("_") else {
                let end = member.valueRange.upperBound
                if inRun, let last = runs.popLast() {
                    runs.append(last.lowerBound..<end)
                } else {
                    runs.append(member.keyRange.lowerBound..<end)
                }
                inRun = true
                continue
            }
            inRun = false
            if try readCommonMember(member, of: bytes, revText: &revText) { continue }
            let value: JSONValue
            do {
                value = try JSONValue.parse(Array(bytes[member.valueRange]))
            } catch {
                throw StoreError.invalidDocument(id, "member \(member.key): \(error)")
            }
            switch member.key {
            case "_id":
                guard let text = value.stringValue else { throw StoreError.invalidDocument(nil, "_id must be a string") }
                id = text
            case "_rev":
                guard let text = value.stringValue else { throw StoreError.invalidDocument(id, "_rev must be a string such as \"1-abc\"") }
                revText = text
                rev = try RevisionID(parsing: text)
            case "_deleted":
                guard let flag = value.boolValue else { throw StoreError.invalidDocument(id, "_deleted must be true or false") }
                deleted = flag
            case "_revisions":
                guard let object = value.objectValue, let start = object["start"]?.intValue,
                      let ids = object["ids"]?.arrayValue
                else {
                    throw StoreError.invalidDocument(id, "_revisions must be {\"start\": N, \"ids\": [\"hash\", …]}")
                }
                var hashes: [String] = []
                for element in ids {
                    guard let hash = element.stringValue else {
                        throw StoreError.invalidDocument(id, "_revisions.ids must hold strings")
                    }
                    hashes.append(hash)
                }
                revisions = try RevisionTree.path(start: start, ids: hashes)
            case "_attachments":
                guard let object = value.objectValue else {
                    throw StoreError.invalidDocument(id, "_attachments must be an object of name → attachment")
                }
                attachments = try object.members.map { member in
                    try IncomingAttachment(name: member.key, json: member.value, documentID: id)
                }
            default:
                guard Self.ignoredMembers.contains(member.key) else {
                    throw StoreError.invalidDocument(id, "bad special document member: \(member.key) (accepted: _id, _rev, _deleted, _revisions, _attachments)")
                }
            }
        }
        let bodyLength = runs.reduce(2) { $0 + $1.count } + max(runs.count - 1, 0)
        if bodyLength > DocumentRules.maximumBodyBytes {
            throw StoreError.invalidDocument(id, "the body is \(bodyLength) bytes, more than the \(DocumentRules.maximumBodyBytes) (256 MiB) a document may hold")
        }
        // Built in place: a large body is copied once, not once into an array and again into
        // the string.
        body = Self.text(joining: runs, of: bytes, length: bodyLength)
        if let revisions, let rev, revisions.first != rev {
            throw StoreError.invalidDocument(id, "_rev \(revText ?? rev.description) does not match _revisions, whose newest revision is \(revisions[0])")
        }
    }

    /// `{` + the byte ranges `runs` of `bytes` joined by commas + `}` as a string of `length`
    /// bytes, invalid UTF-8 repaired as `String(decoding:as:)` would.
    static func text(joining runs: [Range<Int>], of bytes: [UInt8], length: Int) -> String {
        let text = String(unsafeUninitializedCapacity: length) { buffer in
            var offset = 0
            func put(_ byte: UInt8) {
                buffer[offset] = byte
                offset += 1
            }
            put(UInt8(ascii: "{"))
            for (index, run) in runs.enumerated() {
                if index > 0 { put(UInt8(ascii: ",")) }
                bytes.withUnsafeBufferPointer { source in
                    let piece = UnsafeBufferPointer(rebasing: source[run])
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + piece.count)]).initialize(from: piece)
                }
                offset += run.count
            }
            put(UInt8(ascii: "}"))
            return offset
        }
        return text
    }

    /// Reads `_id`, `_rev`, `_deleted` and `_revisions` of the usual shapes straight from the
    /// bytes, without building a `JSONValue` (every replicated revision has them). Returns
    /// false, having changed nothing, for any other member or shape: the general path then
    /// decodes it and words the error.
    private mutating func readCommonMember(_ member: RawJSONMember, of bytes: [UInt8], revText: inout String?) throws -> Bool {
        var reader = JSONReader(bytes, in: member.valueRange)
        do {
            switch member.key {
            case "_id":
                id = try reader.readString()
            case "_rev":
                let text = try reader.readString()
                guard let parsed = try? RevisionID(parsing: text) else { return false }
                revText = text
                rev = parsed
            case "_deleted":
                deleted = try reader.readBool()
            case "_revisions":
                var start: Int?
                var hashes: [String]?
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    switch key {
                    case "start" where start == nil:
                        start = try reader.readInt()
                    case "ids" where hashes == nil:
                        var ids: [String] = []
                        try reader.beginArray()
                        while try reader.nextElement() { ids.append(try reader.readString()) }
                        hashes = ids
                    default:
                        _ = try reader.skipValue()
                    }
                }
                guard let start, let hashes, let path = try? RevisionTree.path(start: start, ids: hashes) else { return false }
                revisions = path
            default:
                return false
            }
            try reader.finish()
            return true
        } catch {
            return false
        }
    }

    /// Parses a JSON text.
    package init(json text: String) throws {
        try self.init(json: Array(text.utf8))
    }

    /// Gives the attachments named in `files` their data from those files: entries that say
    /// `"follows": true`, and stubs (a source that fetched the data apart leaves them as
    /// stubs).
    public mutating func attachSpooledData(_ files: [String: SpoolFile]) {
        guard var attachments else { return }
        for index in attachments.indices {
            guard let file = files[attachments[index].name] else { continue }
            attachments[index].follows = true
            attachments[index].spooled = file
        }
        self.attachments = attachments
    }
}

/// One entry of `_attachments` in an incoming document.
package struct IncomingAttachment: Sendable, Equatable {
    /// The attachment's name (its key in `_attachments`).
    package var name: String
    /// `content_type`.
    package var contentType: String
    /// `revpos`, the generation that last changed the attachment, when given.
    package var revpos: Int?
    /// `digest` (`md5-<base64>`), when given; opaque.
    package var digest: String?
    /// `length`, when given.
    package var length: Int?
    /// The data, decoded from base64; nil for a stub or data that follows.
    package var data: [UInt8]?
    /// `"follows": true`: the data travels apart from the JSON (a `multipart/related` part,
    /// or a file): see ``spooled``.
    package var follows = false
    /// The data of an attachment that ``follows``, once it has arrived.
    package var spooled: SpoolFile?

    /// Creates an attachment from parts.
    package init(name: String, contentType: String, revpos: Int? = nil, digest: String? = nil, length: Int? = nil, data: [UInt8]?) {
        self.name = name
        self.contentType = contentType
        self.revpos = revpos
        self.digest = digest
        self.length = length
        self.data = data
    }

    init(name: String, json: JSONValue, documentID: String?) throws {
        guard let object = json.objectValue else {
            throw StoreError.invalidDocument(documentID, "_attachments.\(name) must be an object")
        }
        self.name = name
        contentType = object["content_type"]?.stringValue ?? "application/octet-stream"
        revpos = object["revpos"]?.intValue
        digest = object["digest"]?.stringValue
        length = object["length"]?.intValue
        if object["follows"]?.boolValue == true {
            data = nil
            follows = true
        } else if let encoded = object["data"] {
            guard let text = encoded.stringValue, let decoded = Data(base64Encoded: text) else {
                throw StoreError.invalidDocument(documentID, "_attachments.\(name).data must be base64 text")
            }
            data = [UInt8](decoded)
        } else if object["stub"]?.boolValue == true {
            data = nil
        } else {
            throw StoreError.invalidDocument(documentID, "_attachments.\(name) needs \"data\" (base64), \"stub\": true or \"follows\": true")
        }
    }
}
