-- AR aging summed per client and bucket (from rpt_ar_aging), largest total first. One bucket_<label>
-- column per configured bucket (reports.aging_buckets): pipelines.models rewrites the bucket_* columns
-- below, written for the default buckets, from the `bucket_current` one (see _pivot_buckets).
-- pipelines.models.report(..., by_client=True) runs this over rpt_ar_aging as of any date.

with

rpt_ar_aging as (
    select * from reports.rpt_ar_aging
),

final as (
    select
        client_name,
        cast(sum(case when aging_bucket = 'current' then open_amount else 0 end) as decimal(18, 2)) as bucket_current,
        cast(sum(case when aging_bucket = '1-30' then open_amount else 0 end) as decimal(18, 2)) as bucket_1_30,
        cast(sum(case when aging_bucket = '31-60' then open_amount else 0 end) as decimal(18, 2)) as bucket_31_60,
        cast(sum(case when aging_bucket = '61-90' then open_amount else 0 end) as decimal(18, 2)) as bucket_61_90,
        cast(sum(case when aging_bucket = '91+' then open_amount else 0 end) as decimal(18, 2)) as bucket_91_plus,
        cast(sum(open_amount) as decimal(18, 2)) as total
    from rpt_ar_aging
    group by client_name
)

select * from final
order by total desc, client_name
