import Foundation
import TOMLKit

/// A configuration value the daemon refuses, with the place it was written: prints as `file:line: reason`
/// (`file: reason` when the file itself cannot be read, `line` 0).
public struct ConfigError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let reason: String

    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }
}

/// A parsed TOML configuration file that finds the line of every key, so each refusal names `file:line`.
///
/// TOMLKit reports lines only for syntax errors; for a valid document the line of a key is found by
/// scanning the text for its `[section]` header and its `key =` line. Sections are read through
/// `section(_:)`; `finish()` then refuses any section or key nobody read. One thread reads a document.
public final class ConfigDocument {
    public let path: String
    private let lines: [Substring]
    private let root: TOMLTable
    private var readSections: Set<String> = []

    /// Reads and parses the file at `path` (as the user wrote it; errors repeat it verbatim).
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: 0, reason: "cannot read the configuration file (\(Self.reasonForUnreadable(path)))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 1, reason: "the configuration file is not UTF-8 text")
        }
        try self.init(path: path, text: text)
    }

    /// Parses `text` as if it had been read from `path`.
    public init(path: String, text: String) throws {
        self.path = path
        // "\r\n" is one Character in Swift, so a file with Windows line ends would otherwise be one line.
        self.lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        if let (line, reason) = Self.syntaxTheParserAbortsOn(text) {
            throw ConfigError(file: path, line: line, reason: "TOML syntax: " + reason)
        }
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: path, line: max(error.source.begin.line, 1), reason: "TOML syntax: \(error.description)")
        }
    }

    /// The directory holding the file, for resolving relative paths written in it.
    var directory: URL {
        URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL
    }

    /// The `[name]` section (empty when the file leaves it out, so every key takes its default).
    func section(_ name: String) throws -> ConfigSection {
        readSections.insert(name)
        guard let value = root[name] else { return ConfigSection(name: name, table: TOMLTable(), document: self) }
        guard let table = value.table else {
            throw error(section: nil, key: name, "`\(name)` must be a section ([\(name)]), not a \(value.type)")
        }
        return ConfigSection(name: name, table: table, document: self)
    }

    /// Refuses top-level sections or keys that no `section(_:)` call asked for.
    func finish() throws {
        for key in root.keys.sorted(by: { line(section: nil, key: $0) < line(section: nil, key: $1) }) where !readSections.contains(key) {
            let known = readSections.sorted().map { "[\($0)]" }.joined(separator: ", ")
            if root[key]?.table != nil {
                throw error(section: nil, key: key, "unknown section [\(key)]; known sections: \(known)")
            }
            throw error(section: nil, key: key, "unknown key `\(key)` outside any section; known sections: \(known)")
        }
    }

    /// An error located at `key` in `[section]` (or at the section header when `key` is nil).
    func error(section: String?, key: String?, _ reason: String) -> ConfigError {
        ConfigError(file: path, line: line(section: section, key: key), reason: reason)
    }

    /// The 1-based line where `key` is set inside `[section]` (top level when `section` is nil);
    /// a missing key falls back to the section header, then to line 1.
    func line(section: String?, key: String?) -> Int {
        var current: String? = nil
        var headerLine: Int? = nil
        for (index, raw) in lines.enumerated() {
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("[") {
                current = Self.headerName(text)
                if current == section, headerLine == nil { headerLine = index + 1 }
                if key == nil, current == section { return index + 1 }
                if section == nil, let key, current == key { return index + 1 }
                continue
            }
            if current == section, let key, Self.keyName(text) == key { return index + 1 }
        }
        return headerLine ?? 1
    }

    /// The first of two syntax errors that the TOML parser inside TOMLKit (toml++ 3.4, built with its assertions on)
    /// does not report but asserts on, aborting the process (both found by Fuzz/fuzz-config): a table header whose
    /// `[` (or `[[`) and spaces are followed by something that cannot start a key, such as the end of the line; and
    /// a `}` where an array expects its next element (`x = [1,}]`). Returns its line and reason, so it is refused
    /// here first. Strings and comments are skipped and open arrays and inline tables tracked, so an array's `[` is
    /// not taken for a header; text after another syntax error may be misread, which is harmless: the parser stops
    /// at that error first.
    static func syntaxTheParserAbortsOn(_ text: String) -> (line: Int, reason: String)? {
        let chars = Array(text.unicodeScalars)
        var i = 0, line = 1, atLineStart = true
        var open: [Unicode.Scalar] = []  // unclosed `[` of arrays and `{` of inline tables
        var expectsElement = false  // after an array's `[` or `,`
        func isSpace(_ k: Int) -> Bool { k < chars.count && (chars[k] == " " || chars[k] == "\t") }
        func startsKey(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "_-\"']".unicodeScalars.contains(c))
        }
        func skipString(quote: Unicode.Scalar) {
            let triple = i + 2 < chars.count && chars[i + 1] == quote && chars[i + 2] == quote
            i += triple ? 3 : 1
            while i < chars.count {
                if chars[i] == "\n" {
                    if !triple { return }
                    line += 1
                } else if chars[i] == "\\" && quote == "\"" {
                    i += 1
                    if i < chars.count, chars[i] == "\n" { line += 1 }
                } else if chars[i] == quote, !triple || (i + 2 < chars.count && chars[i + 1] == quote && chars[i + 2] == quote) {
                    i += triple ? 3 : 1
                    return
                }
                i += 1
            }
        }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\n", " ", "\t", "\r":
                if c == "\n" {
                    line += 1
                    atLineStart = true
                }
                i += 1
                continue
            case "#":
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            case "\"", "'":
                skipString(quote: c)
            case "[" where atLineStart && open.isEmpty:
                var k = i + 1
                while isSpace(k) { k += 1 }
                if k < chars.count, chars[k] == "[" {
                    k += 1
                    while isSpace(k) { k += 1 }
                }
                if k < chars.count, !startsKey(chars[k]) {
                    return (line, "a table header needs a name after its '[', as in [server]")
                }
                i += 1
            case "[", "{":
                open.append(c)
                i += 1
            case "]", "}":
                if c == "}", expectsElement, open.last == "[" { return (line, "expected an array element or ']', found '}'") }
                if !open.isEmpty { open.removeLast() }
                i += 1
            case "," where open.last == "[":
                i += 1
                atLineStart = false
                expectsElement = true
                continue
            default:
                i += 1
            }
            atLineStart = false
            expectsElement = c == "[" && open.last == "["
        }
        return nil
    }

    private static func headerName(_ text: String) -> String? {
        guard !text.hasPrefix("[["), let close = text.firstIndex(of: "]") else { return nil }
        return unquote(text[text.index(after: text.startIndex)..<close].trimmingCharacters(in: .whitespaces))
    }

    private static func keyName(_ text: String) -> String? {
        guard !text.hasPrefix("#"), let equals = text.firstIndex(of: "=") else { return nil }
        return unquote(text[..<equals].trimmingCharacters(in: .whitespaces))
    }

    private static func unquote(_ name: String) -> String {
        if name.count >= 2, let first = name.first, first == "\"" || first == "'", name.last == first {
            return String(name.dropFirst().dropLast())
        }
        return name
    }

    private static func reasonForUnreadable(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return "no such file" }
        return isDirectory.boolValue ? "it is a directory" : "permission denied"
    }
}

/// One `[section]` of a `ConfigDocument`: typed getters that apply defaults, check ranges and remember
/// which keys were read, so `finish()` can refuse the rest. One thread reads a section.
final class ConfigSection {
    let name: String
    private let table: TOMLTable
    fileprivate let document: ConfigDocument
    private var readKeys: Set<String> = []

    fileprivate init(name: String, table: TOMLTable, document: ConfigDocument) {
        self.name = name
        self.table = table
        self.document = document
    }

    /// An error located at `key` in this section.
    func error(_ key: String, _ reason: String) -> ConfigError {
        document.error(section: name, key: key, "[\(name)] \(key): \(reason)")
    }

    /// The directory of the configuration file, for relative paths.
    var directory: URL { document.directory }

    func string(_ key: String, default fallback: String) throws -> String {
        guard let value = take(key) else { return fallback }
        guard let text = value.string else { throw error(key, "must be a string, not a \(value.type)") }
        return text
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = take(key) else { return fallback }
        guard let flag = value.bool else { throw error(key, "must be true or false, not a \(value.type)") }
        return flag
    }

    func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let value = take(key) else { return fallback }
        guard let number = value.int else { throw error(key, "must be an integer, not a \(value.type)") }
        guard range.contains(number) else {
            throw error(key, "\(number) is out of range; allowed \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func double(_ key: String, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let value = take(key) else { return fallback }
        guard let number = value.double ?? value.int.map(Double.init) else {
            throw error(key, "must be a number, not a \(value.type)")
        }
        guard number.isFinite, range.contains(number) else {
            throw error(key, "\(number) is out of range; allowed \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func stringArray(_ key: String, default fallback: [String]) throws -> [String] {
        guard let value = take(key) else { return fallback }
        guard let array = value.array else { throw error(key, "must be an array of strings, not a \(value.type)") }
        return try array.map { element in
            guard let text = element.string else { throw error(key, "must be an array of strings; found a \(element.type)") }
            return text
        }
    }

    /// Refuses keys of this section that no getter asked for.
    func finish() throws {
        let unknown = table.keys.filter { !readKeys.contains($0) }
        guard let first = unknown.min(by: { document.line(section: name, key: $0) < document.line(section: name, key: $1) }) else { return }
        throw error(first, "unknown key; known keys: \(readKeys.sorted().joined(separator: ", "))")
    }

    private func take(_ key: String) -> TOMLValueConvertible? {
        readKeys.insert(key)
        return table[key]
    }
}

extension ConfigSection {
    /// Runs a module's own `validate()`; its refusal is reported at the line of the first of `keys` that
    /// its message names (else at the section header), keeping the module's wording.
    func check(keys: [String], _ validate: () throws -> Void) throws {
        do {
            try validate()
        } catch {
            let message = "\(error)"
            let named = keys.filter { message.contains($0) }
                .min { message.range(of: $0)!.lowerBound < message.range(of: $1)!.lowerBound }
            throw document.error(section: name, key: named, "[\(name)] \(message)")
        }
    }
}
