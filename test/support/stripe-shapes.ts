// Checks JSON objects against the Stripe SDK's own type definitions (node_modules/stripe, its .d.ts
// files), read with the TypeScript compiler API: every property the types mark as required (not
// optional) must be there, every property present must have the declared type (string, number,
// boolean, null, object, array), string-literal unions only allow their values, and nested objects
// are checked the same way. An expandable field (`string | Stripe.Customer`) may be the id or the
// object; a union of objects is told apart by its literal fields (`object`, `type`, `deleted`).
// Fields the types do not declare are problems too, except `total_count` of a list inside an object
// (Stripe sends it for `items` and `lines`, as its API reference shows; the SDK's ApiList omits it).
// The project's own `typescript` is the native v7, without a JS compiler API: this uses the
// `typescript5` devDependency (an alias of typescript@5) only for reading the SDK's types.
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript5";

/** The Stripe object for each `object` value the emulator returns or sends (a type expression on `Stripe`). */
export const stripeTypeForObject: Record<string, string> = {
  customer: "Stripe.Customer",
  payment_method: "Stripe.PaymentMethod",
  payment_intent: "Stripe.PaymentIntent",
  charge: "Stripe.Charge",
  dispute: "Stripe.Dispute",
  product: "Stripe.Product",
  price: "Stripe.Price",
  "billing.meter": "Stripe.Billing.Meter",
  "billing.meter_event": "Stripe.Billing.MeterEvent",
  subscription: "Stripe.Subscription",
  subscription_item: "Stripe.SubscriptionItem",
  invoice: "Stripe.Invoice",
  line_item: "Stripe.InvoiceLineItem",
  event: "Stripe.Event",
  webhook_endpoint: "Stripe.WebhookEndpoint",
  list: "Stripe.ApiList<unknown>",
  search_result: "Stripe.ApiSearchResult<unknown>",
};

/** Deleted objects (`{id, object, deleted: true}`), by `object`. */
const deletedTypeForObject: Record<string, string> = {
  customer: "Stripe.DeletedCustomer",
  webhook_endpoint: "Stripe.DeletedWebhookEndpoint",
  product: "Stripe.DeletedProduct",
  price: "Stripe.DeletedPrice",
};

export interface StripeShapes {
  /** Problems of `value` as the named type (e.g. "Stripe.Invoice"); empty when it conforms. */
  check(value: unknown, typeName: string, at?: string): string[];
  /**
   * Problems of an API response or event, typed by its `object` field (lists and search results
   * item by item); an unknown `object` is a problem too.
   */
  checkObject(value: unknown, at?: string): string[];
  /** Problems of an error answer: `{ error: Stripe.StripeRawError }` with at least `type` and `message`. */
  checkError(value: unknown, at?: string): string[];
}

type Json = unknown;

export function loadStripeShapes(): StripeShapes {
  const typeNames = [...new Set([...Object.values(stripeTypeForObject), ...Object.values(deletedTypeForObject), "Stripe.StripeRawError"])];
  // A file at the repository's root, so that "stripe" resolves to node_modules/stripe as for the code.
  const file = path.join(fileURLToPath(new URL("../../", import.meta.url)), "__stripe_shapes__.ts");
  const source = [`import Stripe from "stripe";`, "export interface Shapes {", ...typeNames.map((name, i) => `  t${i}: ${name};`), "}"].join("\n");
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
    esModuleInterop: true,
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, source, language, true) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  const checker = program.getTypeChecker();
  const sourceFile = program.getSourceFile(file)!;
  const problems = ts
    .getPreEmitDiagnostics(program, sourceFile)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  if (problems.length > 0) throw new Error(`cannot read the Stripe SDK's types: ${problems.join("; ")}`);
  const shapes = checker.getDeclaredTypeOfSymbol(checker.getSymbolAtLocation((sourceFile.statements[1] as ts.InterfaceDeclaration).name)!);
  const types = new Map<string, ts.Type>();
  typeNames.forEach((name, i) => types.set(name, checker.getTypeOfSymbol(shapes.getProperty(`t${i}`)!)));

  const typeText = (type: ts.Type) => checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation);
  const describe = (value: Json) => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "string" ? JSON.stringify(value) : typeof value);
  /** Stripe's `OtherString` (`string & {}`): any string, in unions of known values. */
  const isOpenString = (type: ts.Type) => type.isIntersection() && type.types.some((part) => (part.flags & ts.TypeFlags.String) !== 0);
  const isDecimal = (type: ts.Type) => type.aliasSymbol?.getName() === "Decimal" || /^Decimal(Impl)?$/.test(type.getSymbol()?.getName() ?? "");

  /** Problems of `value` as `type`, at the path `at`. */
  function match(value: Json, type: ts.Type, at: string, depth: number): string[] {
    if (depth > 40) return [`${at}: nested too deeply`];
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return [];
    if (isDecimal(type)) {
      // The SDK's Decimal is a decimal string on the wire.
      return typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value) ? [] : [`${at}: ${describe(value)}, expected a decimal string`];
    }
    if (type.isUnion()) return matchUnion(value, type, at, depth);
    if (isOpenString(type)) return typeof value === "string" ? [] : [`${at}: ${describe(value)}, expected a string`];
    if (type.isIntersection()) return type.types.flatMap((part) => match(value, part, at, depth + 1));
    if (flags & ts.TypeFlags.Null) return value === null ? [] : [`${at}: ${describe(value)}, expected null`];
    if (flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) return value === undefined ? [] : [`${at}: ${describe(value)}, expected to be absent`];
    if (type.isStringLiteral()) return value === type.value ? [] : [`${at}: ${describe(value)}, expected ${JSON.stringify(type.value)}`];
    if (flags & (ts.TypeFlags.String | ts.TypeFlags.TemplateLiteral)) return typeof value === "string" ? [] : [`${at}: ${describe(value)}, expected a string`];
    if (type.isNumberLiteral()) return value === type.value ? [] : [`${at}: ${describe(value)}, expected ${type.value}`];
    if (flags & ts.TypeFlags.Number) return typeof value === "number" && Number.isFinite(value) ? [] : [`${at}: ${describe(value)}, expected a number`];
    if (flags & ts.TypeFlags.BooleanLiteral) {
      const expected = typeText(type) === "true";
      return value === expected ? [] : [`${at}: ${describe(value)}, expected ${expected}`];
    }
    if (flags & ts.TypeFlags.Boolean) return typeof value === "boolean" ? [] : [`${at}: ${describe(value)}, expected a boolean`];
    if (checker.isArrayType(type) || checker.isTupleType(type)) {
      if (!Array.isArray(value)) return [`${at}: ${describe(value)}, expected an array`];
      const element = checker.getTypeArguments(type as ts.TypeReference)[0];
      return element ? value.flatMap((item, i) => match(item, element, `${at}[${i}]`, depth + 1)) : [];
    }
    if (flags & ts.TypeFlags.Object || flags & ts.TypeFlags.NonPrimitive) return matchObject(value, type, at, depth);
    return [`${at}: cannot check type ${typeText(type)}`];
  }

  function matchObject(value: Json, type: ts.Type, at: string, depth: number): string[] {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return [`${at}: ${describe(value)}, expected an object (${typeText(type)})`];
    const record = value as Record<string, Json>;
    const out: string[] = [];
    const declared = new Set<string>();
    for (const property of checker.getPropertiesOfType(type)) {
      const name = property.getName();
      declared.add(name);
      const propertyType = checker.getTypeOfSymbol(property);
      if (!(name in record) || record[name] === undefined) {
        if (!(property.flags & ts.SymbolFlags.Optional)) out.push(`${at}.${name}: missing (required ${typeText(propertyType)})`);
        continue;
      }
      // (an optional field's `| undefined` never fits a value that is there)
      out.push(...match(record[name], propertyType, `${at}.${name}`, depth + 1));
    }
    const index = checker.getIndexInfosOfType(type).find((info) => info.keyType.flags & ts.TypeFlags.String);
    for (const [name, item] of Object.entries(record)) {
      if (declared.has(name)) continue;
      if (index) out.push(...match(item, index.type, `${at}[${JSON.stringify(name)}]`, depth + 1));
      else if (!(name === "total_count" && typeof item === "number" && record.object === "list")) out.push(`${at}.${name}: not a field of ${typeText(type)}`);
    }
    return out;
  }

  function matchUnion(value: Json, union: ts.UnionType, at: string, depth: number): string[] {
    const members = union.types;
    // Enums: a string-literal union (maybe with null) only allows its values.
    // Stripe joins most enums with `OtherString` (values its docs list that the SDK does not yet): the
    // emulator still only uses the values the SDK lists.
    if (typeof value === "string" && !members.some((t) => t.flags & (ts.TypeFlags.String | ts.TypeFlags.TemplateLiteral) || isDecimal(t))) {
      const literals = members.filter((t) => t.isStringLiteral()) as ts.StringLiteralType[];
      if (literals.length > 0) {
        return literals.some((t) => t.value === value) ? [] : [`${at}: ${JSON.stringify(value)} is not one of ${literals.map((t) => JSON.stringify(t.value)).join(" | ")}`];
      }
    }
    const candidates = members.filter((t) => kindFits(value, t));
    if (candidates.length === 0) return [`${at}: ${describe(value)}, expected ${typeText(union)}`];
    if (candidates.length === 1) return match(value, candidates[0]!, at, depth + 1);
    const discriminated = value !== null && typeof value === "object" && !Array.isArray(value) ? discriminate(value as Record<string, Json>, candidates) : candidates;
    if (discriminated.length === 0) return [`${at}: ${describe(value)} fits none of ${typeText(union).slice(0, 200)}`];
    let best: string[] | undefined;
    for (const candidate of discriminated) {
      const problems = match(value, candidate, at, depth + 1);
      if (problems.length === 0) return [];
      if (!best || problems.length < best.length) best = problems;
    }
    return best!;
  }

  /** Members of a union of objects whose literal fields (object, type, deleted, ...) allow the value's. */
  function discriminate(value: Record<string, Json>, members: ts.Type[]): ts.Type[] {
    return members.filter((member) => {
      // A member that requires a literal field (`deleted: true`) the value does not have is not it.
      for (const property of checker.getPropertiesOfType(member)) {
        if (property.flags & ts.SymbolFlags.Optional || property.getName() in value) continue;
        const propertyType = checker.getTypeOfSymbol(property);
        if (propertyType.flags & (ts.TypeFlags.StringLiteral | ts.TypeFlags.BooleanLiteral)) return false;
      }
      for (const [name, item] of Object.entries(value)) {
        if (typeof item !== "string" && typeof item !== "boolean") continue;
        const property = member.getProperty(name);
        if (!property) continue;
        const propertyType = checker.getTypeOfSymbol(property);
        const options = propertyType.isUnion() ? propertyType.types : [propertyType];
        const literal = options.every((t) => t.flags & (ts.TypeFlags.StringLiteral | ts.TypeFlags.BooleanLiteral | ts.TypeFlags.Undefined | ts.TypeFlags.Void | ts.TypeFlags.Null));
        if (!literal) continue;
        const allowed = options.some((t) => (t.isStringLiteral() ? t.value === item : t.flags & ts.TypeFlags.BooleanLiteral ? typeText(t) === String(item) : false));
        if (!allowed) return false;
      }
      return true;
    });
  }

  function kindFits(value: Json, type: ts.Type): boolean {
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return true;
    if (value === null) return (flags & ts.TypeFlags.Null) !== 0;
    if (typeof value === "string") return (flags & ts.TypeFlags.StringLike) !== 0 || isDecimal(type) || isOpenString(type);
    if (typeof value === "number") return (flags & ts.TypeFlags.NumberLike) !== 0;
    if (typeof value === "boolean") return (flags & ts.TypeFlags.BooleanLike) !== 0;
    if (Array.isArray(value)) return checker.isArrayType(type) || checker.isTupleType(type);
    if (typeof value === "object") {
      return (flags & (ts.TypeFlags.Object | ts.TypeFlags.NonPrimitive | ts.TypeFlags.Intersection)) !== 0 && !checker.isArrayType(type) && !isDecimal(type) && !isOpenString(type);
    }
    return false;
  }

  function check(value: unknown, typeName: string, at = typeName): string[] {
    const type = types.get(typeName);
    if (!type) throw new Error(`${typeName} is not one of the checked Stripe types (add it to stripeTypeForObject)`);
    return match(value, type, at, 0);
  }

  function checkObject(value: unknown, at = "response"): string[] {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return [`${at}: ${describe(value)}, expected a Stripe object`];
    const record = value as Record<string, Json>;
    const kind = record.object;
    if (typeof kind !== "string") return [`${at}: no "object" field`];
    const typeName = record.deleted === true ? deletedTypeForObject[kind] : stripeTypeForObject[kind];
    if (!typeName) return [`${at}: object ${JSON.stringify(kind)}${record.deleted === true ? " (deleted)" : ""} has no Stripe type to check it against`];
    const out = check(value, typeName, `${at} (${typeName})`);
    if (kind === "list" || kind === "search_result") {
      const items = Array.isArray(record.data) ? record.data : [];
      items.forEach((item, i) => out.push(...checkObject(item, `${at}.data[${i}]`)));
    }
    return out;
  }

  function checkError(value: unknown, at = "error response"): string[] {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return [`${at}: ${describe(value)}, expected { error }`];
    const { error, ...rest } = value as Record<string, Json>;
    const out = Object.keys(rest).map((key) => `${at}.${key}: not a field of an error response`);
    if (error === null || typeof error !== "object") return [...out, `${at}.error: missing`];
    const raw = error as Record<string, Json>;
    // The SDK types every field of an error as optional; Stripe always sends these two.
    for (const field of ["type", "message"]) if (typeof raw[field] !== "string") out.push(`${at}.error.${field}: missing (Stripe always sends it)`);
    return [...out, ...check(error, "Stripe.StripeRawError", `${at}.error (Stripe.StripeRawError)`)];
  }

  return { check, checkObject, checkError };
}
