/**
 * The Date header as mail clients wrote it over the decades (RFC 5322 with its obsolete forms):
 * comments, two- and three-digit years, named zones, a missing weekday or seconds, `+-0500`.
 * JavaScript's Date.parse is not used: it accepts some of these, rejects others, and reads
 * plain garbage as a date.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** RFC 5322 obs-zone names, in minutes east of UTC. Military letters count as unknown (-0000). */
const ZONES: Record<string, number> = {
	ut: 0,
	utc: 0,
	gmt: 0,
	z: 0,
	edt: -240,
	est: -300,
	cdt: -300,
	cst: -360,
	mdt: -360,
	mst: -420,
	pdt: -420,
	pst: -480,
};

const DATE =
	/^(?:[a-z]+\s*,?\s*)?(\d{1,2})\s*[\s-]\s*([a-z]{3})[a-z]*\.?\s*[\s-]\s*(\d{1,4})\s+(\d{1,2})\s*:\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?(?:\.\d+)?\s*(.*)$/;

/** asctime(), as some old clients wrote it: `Thu Aug 29 15:36:58 [zone] 2002`. */
const ASCTIME =
	/^(?:[a-z]+,?\s+)?([a-z]{3})[a-z]*\s+(\d{1,2})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s+(?:(\S+)\s+)?(\d{4})$/;

function zoneMinutes(zone: string): number | null {
	const z = zone.trim().split(' ')[0];
	if (z === '') return 0;
	// `+-0500`, `-+0500`: clients that printed the sign twice meant the second one.
	const numeric = /^[+-]?([+-])(\d{2}):?(\d{2})$/.exec(z);
	if (numeric) {
		const minutes = Number(numeric[2]) * 60 + Number(numeric[3]);
		if (Number(numeric[3]) > 59 || minutes > 24 * 60) return null;
		return numeric[1] === '-' ? -minutes : minutes;
	}
	const name = /^([a-z]+)\b/.exec(z);
	if (name) return ZONES[name[1]] ?? 0;
	return null;
}

/** The instant a Date header names, or null when it names none (the caller keeps the raw text). */
export function parseMailDate(raw: string | undefined | null): Date | null {
	if (!raw) return null;
	let text = raw;
	// Comments may nest; strip innermost first, a bounded number of times.
	for (let i = 0; i < 5 && /\([^()]*\)/.test(text); i += 1) text = text.replace(/\([^()]*\)/g, ' ');
	text = text.replace(/\s+/g, ' ').trim().toLowerCase();
	const m = DATE.exec(text);
	const a = m ? null : ASCTIME.exec(text);
	if (!m && !a) return null;
	const [, dayText, monthText, yearText, hourText, minuteText, secondText, zoneText] = m ?? [
		'',
		a![2],
		a![1],
		a![7],
		a![3],
		a![4],
		a![5],
		a![6] ?? '',
	];
	const month = MONTHS.indexOf(monthText);
	let year = Number(yearText);
	// RFC 5322 4.3: two-digit years below 50 are 20xx, others 19xx; three-digit years add 1900.
	if (yearText.length <= 2) year += year < 50 ? 2000 : 1900;
	else if (yearText.length === 3) year += 1900;
	const day = Number(dayText);
	const hour = Number(hourText);
	const minute = Number(minuteText);
	const second = secondText === undefined ? 0 : Number(secondText);
	const offset = zoneMinutes(zoneText);
	if (month < 0 || offset === null || day < 1 || hour > 23 || minute > 59 || second > 60)
		return null;
	const date = new Date(0);
	date.setUTCFullYear(year, month, day);
	if (date.getUTCDate() !== day) return null; // 31 Feb
	date.setUTCHours(hour, minute, Math.min(second, 59), 0);
	date.setTime(date.getTime() - offset * 60_000);
	const y = date.getUTCFullYear();
	return y >= 0 && y <= 9999 ? date : null;
}
