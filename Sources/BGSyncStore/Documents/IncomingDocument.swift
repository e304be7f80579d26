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
        var bodyBytes: [UInt8] = [UInt8(ascii: "{")]
        bodyBytes.reserveCapacity(runs.reduce(2) { $0 + $1.count + 1 })
        for (index, run) in runs.enumerated() {
            if index > 0 { bodyBytes.append(UInt8(ascii: ",")) }
            bodyBytes += bytes[run]
        }
        bodyBytes.append(UInt8(ascii: "}"))
        if bodyBytes.count > DocumentRules.maximumBodyBytes {
            throw StoreError.invalidDocument(id, "the body is \(bodyBytes.count) bytes, more than the \(DocumentRules.maximumBodyBytes) (256 MiB) a document may hold")
        }
        body = String(decoding: bodyBytes, as: UTF8.self)
        if let revisions, let rev, revisions.first != rev {
            throw StoreError.invalidDocument(id, "_rev \(revText ?? rev.description) does not match _revisions, whose newest revision is \(revisions[0])")
        }
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
    /// The data, decoded from base64; nil for a stub.
    package var data: [UInt8]?

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
            throw StoreError.invalidDocument(documentID, "_attachments.\(name): \"follows\" (multipart) is not supported here; send the data inline as base64")
        }
        if let encoded = object["data"] {
            guard let text = encoded.stringValue, let decoded = Data(base64Encoded: text) else {
                throw StoreError.invalidDocument(documentID, "_attachments.\(name).data must be base64 text")
            }
            data = [UInt8](decoded)
        } else if object["stub"]?.boolValue == true {
            data = nil
        } else {
            throw StoreError.invalidDocument(documentID, "_attachments.\(name) needs \"data\" (base64) or \"stub\": true")
        }
    }
}
