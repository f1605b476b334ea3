// grpc.reflection.v1 (and v1alpha, for older tools) ServerReflection, served from the generated
// file descriptors, so generic tools (grpcurl, Postman, evans) can list and call the services.
import { create, createRegistry, toBinary, type DescFile, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** gRPC status NOT_FOUND, as the reflection protocol's error_code expects. */
const notFoundCode = 5;
const unimplementedCode = 12;

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type ResponseInit = {
  validHost: string;
  originalRequest: Request;
  messageResponse:
    | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: "listServicesResponse"; value: { service: { name: string }[] } }
    | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };
};

export function createReflection(files: readonly DescFile[], serviceNames: readonly string[]) {
  const registry = createRegistry(...files);
  /** The file and everything it imports, dependencies first, each once. */
  const withDependencies = (file: DescFile): Uint8Array[] => {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      for (const dependency of f.dependencies) visit(dependency);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    };
    visit(file);
    return out;
  };

  const fileByName = new Map<string, DescFile>();
  const addFile = (file: DescFile) => {
    fileByName.set(file.name + ".proto", file);
    file.dependencies.forEach(addFile);
  };
  files.forEach(addFile);

  const answer = (request: Request): ResponseInit => {
    const respond = (messageResponse: ResponseInit["messageResponse"]): ResponseInit => ({
      validHost: request.host,
      originalRequest: request,
      messageResponse,
    });
    const notFound = (what: string) => respond({ case: "errorResponse", value: { errorCode: notFoundCode, errorMessage: `${what} not found` } });
    const files = (file: DescFile) => respond({ case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } });
    const message = request.messageRequest;
    switch (message.case) {
      case "listServices":
        return respond({ case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } });
      case "fileByFilename": {
        const file = fileByName.get(message.value);
        return file ? files(file) : notFound(`file ${message.value}`);
      }
      case "fileContainingSymbol": {
        const symbol = message.value.replace(/^\./, "");
        const found = findSymbolFile(registry, symbol);
        return found ? files(found) : notFound(`symbol ${message.value}`);
      }
      case "fileContainingExtension":
        return notFound(`extension ${message.value.extensionNumber} of ${message.value.containingType}`);
      case "allExtensionNumbersOfType": {
        const type = registry.getMessage(message.value);
        return type
          ? respond({ case: "errorResponse", value: { errorCode: notFoundCode, errorMessage: `${message.value} has no extensions` } })
          : notFound(`type ${message.value}`);
      }
      default:
        return respond({ case: "errorResponse", value: { errorCode: unimplementedCode, errorMessage: "unsupported reflection request" } });
    }
  };

  const v1Impl: ServiceImpl<typeof v1.ServerReflection> = {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, answer(request) as never);
      }
    },
  };
  const v1alphaImpl: ServiceImpl<typeof v1alpha.ServerReflection> = {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(v1alpha.ServerReflectionResponseSchema, answer(request) as never);
      }
    },
  };
  return { v1: v1Impl, v1alpha: v1alphaImpl };
}

/** Services, methods, messages, enums and their nested names all resolve to their file. */
function findSymbolFile(registry: Registry, symbol: string): DescFile | undefined {
  const direct = registry.get(symbol);
  if (direct) return direct.file;
  // A method or enum value: strip the last component and look up the parent.
  const dot = symbol.lastIndexOf(".");
  if (dot > 0) {
    const parent = registry.get(symbol.slice(0, dot));
    if (parent) return parent.file;
  }
  return undefined;
}
