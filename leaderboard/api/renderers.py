"""CSV for the leaderboard: the same rows as the JSON, one line per recipe."""
from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

CSV_COLUMNS = ("recipe_id", "title", "base_model", "ftype", "method", "has_imatrix", "output_bytes", "gib", "bpw",
               "kld_mean", "kld_mean_err", "ppl", "ppl_err", "same_top_p", "same_top_p_err", "n_runs",
               "bit_identical", "bit_compared", "verified", "on_frontier", "within_noise_of", "submitter",
               "created_at", "profile_id", "url")


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out)
        if isinstance(data, dict) and "results" in data:
            writer.writerow(CSV_COLUMNS)
            for row in data["results"]:
                writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
        else:  # an error body: keep it readable
            writer.writerow(["error"])
            writer.writerow([_cell(str(data))])
        return out.getvalue().encode(self.charset)


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(…), =cmd|…, @SUM(…));
# OWASP's CSV-injection advice: prefix such a cell with a single quote, which makes it text. Only strings
# are escaped: a negative number stays a number.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
