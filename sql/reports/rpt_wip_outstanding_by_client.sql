-- WIP outstanding summed per client and bucket (from rpt_wip_outstanding), largest total first. One
-- bucket_<label> column per configured bucket (reports.aging_buckets): pipelines.models rewrites the
-- bucket_* columns below, written for the default buckets, from the `bucket_current` one.
-- pipelines.models.report(..., by_client=True) runs this over rpt_wip_outstanding as of any date.

with

rpt_wip_outstanding as (
    select * from reports.rpt_wip_outstanding
),

final as (
    select
        client_name,
        cast(sum(case when aging_bucket = 'current' then outstanding_amount else 0 end) as decimal(18, 2))
            as bucket_current,
        cast(sum(case when aging_bucket = '1-30' then outstanding_amount else 0 end) as decimal(18, 2))
            as bucket_1_30,
        cast(sum(case when aging_bucket = '31-60' then outstanding_amount else 0 end) as decimal(18, 2))
            as bucket_31_60,
        cast(sum(case when aging_bucket = '61-90' then outstanding_amount else 0 end) as decimal(18, 2))
            as bucket_61_90,
        cast(sum(case when aging_bucket = '91+' then outstanding_amount else 0 end) as decimal(18, 2))
            as bucket_91_plus,
        cast(sum(outstanding_amount) as decimal(18, 2)) as total
    from rpt_wip_outstanding
    group by client_name
)

select * from final
order by total desc, client_name
