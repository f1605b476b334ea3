// Date#toISOString, three times faster for the years 0000-9999: reconcile writes four of them into
// every entry's metadata (startTime, endTime, ...), where V8's own took an eighth of the server's
// work per instance (bench/profile-intake.ts). The same text, checked against toISOString by
// iso-time.test.ts.

const twoDigits = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));
const threeDigits = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
const dayMs = 86_400_000;
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: outside, toISOString writes ±YYYYYY. */
const firstMs = -62_167_219_200_000;
const lastMs = 253_402_300_799_999;

/** `time.toISOString()`: YYYY-MM-DDTHH:mm:ss.sssZ. */
export function isoTime(time: Date): string {
  const ms = time.getTime();
  if (!(ms >= firstMs && ms <= lastMs)) return time.toISOString();
  const days = Math.floor(ms / dayMs);
  let rest = ms - days * dayMs;
  // The proleptic Gregorian date of a day number (Howard Hinnant's civil_from_days).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const d = twoDigits;
  return `${d[Math.floor(year / 100)]}${d[year % 100]}-${d[month]}-${d[day]}T${d[hours]}:${d[minutes]}:${d[seconds]}.${threeDigits[rest - seconds * 1000]}Z`;
}
