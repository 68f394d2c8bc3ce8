import type { DescEnum, DescField, DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";

// The descriptors embedded in generated code carry no comments (protoc-gen-es strips the source
// info). `npm run generate` therefore also runs protoc-gen-comments, which reads the comments
// from the source info protoc hands to plugins and writes them to `gen/proto-comments.ts`, keyed
// by each element's full name. This module computes those names and, for the plugin, reads a
// comment out of the source info.

/** A proto element that can carry a leading comment. */
export type CommentedDesc = DescService | DescMethod | DescMessage | DescField | DescEnum;

/** The key of an element in the comments map: `scaivault.v1.SecretsService.GetSecret`, `scaivault.v1.Secret.path`. */
export function commentKey(desc: CommentedDesc): string {
  switch (desc.kind) {
    case "rpc":
    case "field":
      return `${desc.parent.typeName}.${desc.name}`;
    default:
      return desc.typeName;
  }
}

/** The leading comment of an element as the source info of its file has it, trimmed; undefined when none. */
export function sourceComment(desc: CommentedDesc): string | undefined {
  const file = fileOf(desc);
  const wanted = sourcePath(desc).join(".");
  const location = file.proto.sourceCodeInfo?.location.find((l) => l.path.join(".") === wanted);
  const text = location?.leadingComments.replace(/^ /gm, "").trim();
  return text || undefined;
}

function fileOf(desc: CommentedDesc): DescFile {
  return desc.kind === "rpc" || desc.kind === "field" ? desc.parent.file : desc.file;
}

// Field numbers of descriptor.proto that make up a SourceCodeInfo location path.
const fileMessageType = 4;
const fileEnumType = 5;
const fileService = 6;
const messageField = 2;
const messageNested = 3;
const messageEnum = 4;
const serviceMethod = 2;

function sourcePath(desc: CommentedDesc): number[] {
  switch (desc.kind) {
    case "service":
      return [fileService, desc.file.proto.service.indexOf(desc.proto)];
    case "rpc":
      return [...sourcePath(desc.parent), serviceMethod, desc.parent.proto.method.indexOf(desc.proto)];
    case "message":
      return desc.parent
        ? [...sourcePath(desc.parent), messageNested, desc.parent.proto.nestedType.indexOf(desc.proto)]
        : [fileMessageType, desc.file.proto.messageType.indexOf(desc.proto)];
    case "enum":
      return desc.parent
        ? [...sourcePath(desc.parent), messageEnum, desc.parent.proto.enumType.indexOf(desc.proto)]
        : [fileEnumType, desc.file.proto.enumType.indexOf(desc.proto)];
    case "field":
      return [...sourcePath(desc.parent), messageField, desc.parent.proto.field.indexOf(desc.proto)];
  }
}
